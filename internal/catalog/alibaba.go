package catalog

// alibabaRegions lists Alibaba Cloud public-cloud regions by region ID, which
// the Alibaba cloud-controller-manager writes into the region label. Regions
// the documentation marks as closed or deactivated (ap-south-1 Mumbai,
// ap-southeast-2 Sydney), the finance and government clouds, and the
// "Local Regions" are left out.
//
// Several IDs are also AWS region names for a different country
// (ap-southeast-3 is Kuala Lumpur here but Jakarta at AWS; eu-west-1 is London
// here but Ireland at AWS; me-central-1 is Riyadh here but the UAE at AWS).
// CountryOf reports such names as ambiguous.
//
// Source: Alibaba Cloud "Regions and zones"
// (https://www.alibabacloud.com/help/en/ecs/product-overview/regions-and-zones)
// and the per-product "Supported regions" / endpoint tables (Container
// Compute Service, Classic Load Balancer, ApsaraVideo Live); taken 2026-11.
var alibabaRegions = []site{
	{"ap-northeast-1", "JP", "Tokyo"},
	{"ap-northeast-2", "KR", "Seoul"},
	{"ap-southeast-1", "SG", "Singapore"},
	{"ap-southeast-3", "MY", "Kuala Lumpur"},
	{"ap-southeast-5", "ID", "Jakarta"},
	{"ap-southeast-6", "PH", "Manila"},
	{"ap-southeast-7", "TH", "Bangkok"},
	{"cn-beijing", "CN", "Beijing"},
	{"cn-chengdu", "CN", "Chengdu"},
	{"cn-guangzhou", "CN", "Guangzhou"},
	{"cn-hangzhou", "CN", "Hangzhou"},
	{"cn-heyuan", "CN", "Heyuan"},
	{"cn-hongkong", "HK", "Hong Kong"},
	{"cn-huhehaote", "CN", "Hohhot"},
	{"cn-qingdao", "CN", "Qingdao"},
	{"cn-shanghai", "CN", "Shanghai"},
	{"cn-shenzhen", "CN", "Shenzhen"},
	{"cn-wulanchabu", "CN", "Ulanqab"},
	{"cn-zhangjiakou", "CN", "Zhangjiakou"},
	{"eu-central-1", "DE", "Frankfurt"},
	{"eu-west-1", "GB", "London"},
	{"me-central-1", "SA", "Riyadh"},
	{"me-east-1", "AE", "Dubai"},
	{"us-east-1", "US", "Virginia"},
	{"us-southeast-1", "US", "Atlanta"},
	{"us-west-1", "US", "Silicon Valley"},
}
