package catalog

// ibmRegions lists the IBM Cloud VPC multizone regions. IBM Cloud Kubernetes
// Service and Red Hat OpenShift on IBM Cloud (VPC) label nodes with these
// names; the zones are the region plus "-1", "-2", "-3".
//
// Source: IBM Cloud Docs "Creating a VPC in a different region"
// (https://cloud.ibm.com/docs/vpc?topic=vpc-creating-a-vpc-in-a-different-region),
// cross-checked with "Regions for IBM Cloud Monitoring"; taken 2026-11.
var ibmRegions = []site{
	{"au-syd", "AU", "Sydney"},
	{"br-sao", "BR", "São Paulo"},
	{"ca-mon", "CA", "Montreal"},
	{"ca-tor", "CA", "Toronto"},
	{"eu-de", "DE", "Frankfurt"},
	{"eu-es", "ES", "Madrid"},
	{"eu-gb", "GB", "London"},
	{"jp-osa", "JP", "Osaka"},
	{"jp-tok", "JP", "Tokyo"},
	{"us-east", "US", "Washington DC"},
	{"us-south", "US", "Dallas"},
}
