package catalog

// awsRegions lists the AWS regions, including the GovCloud (US), China and
// European Sovereign Cloud partitions, because the aws cloud-controller-manager
// labels nodes in all of them the same way.
//
// Source: "AWS Region billing codes",
// https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html
// (region codes and names), cross-checked with the AWS SDK partition metadata
// for eusc-de-east-1; taken 2026-11.
var awsRegions = []site{
	{"af-south-1", "ZA", "Cape Town"},
	{"ap-east-1", "HK", "Hong Kong"},
	{"ap-east-2", "TW", "Taipei"},
	{"ap-northeast-1", "JP", "Tokyo"},
	{"ap-northeast-2", "KR", "Seoul"},
	{"ap-northeast-3", "JP", "Osaka"},
	{"ap-south-1", "IN", "Mumbai"},
	{"ap-south-2", "IN", "Hyderabad"},
	{"ap-southeast-1", "SG", "Singapore"},
	{"ap-southeast-2", "AU", "Sydney"},
	{"ap-southeast-3", "ID", "Jakarta"},
	{"ap-southeast-4", "AU", "Melbourne"},
	{"ap-southeast-5", "MY", "Malaysia"},
	{"ap-southeast-6", "NZ", "New Zealand"},
	{"ap-southeast-7", "TH", "Thailand"},
	{"ca-central-1", "CA", "Canada (Central)"},
	{"ca-west-1", "CA", "Calgary"},
	{"cn-north-1", "CN", "Beijing"},
	{"cn-northwest-1", "CN", "Ningxia"},
	{"eu-central-1", "DE", "Frankfurt"},
	{"eu-central-2", "CH", "Zurich"},
	{"eu-north-1", "SE", "Stockholm"},
	{"eu-south-1", "IT", "Milan"},
	{"eu-south-2", "ES", "Spain"},
	{"eu-west-1", "IE", "Ireland"},
	{"eu-west-2", "GB", "London"},
	{"eu-west-3", "FR", "Paris"},
	{"eusc-de-east-1", "DE", "Brandenburg"},
	{"il-central-1", "IL", "Tel Aviv"},
	{"me-central-1", "AE", "UAE"},
	{"me-south-1", "BH", "Bahrain"},
	{"mx-central-1", "MX", "Mexico (Central)"},
	{"sa-east-1", "BR", "São Paulo"},
	{"us-east-1", "US", "N. Virginia"},
	{"us-east-2", "US", "Ohio"},
	{"us-gov-east-1", "US", "GovCloud (US-East)"},
	{"us-gov-west-1", "US", "GovCloud (US-West)"},
	{"us-west-1", "US", "N. California"},
	{"us-west-2", "US", "Oregon"},
}
