package catalog

// gcpRegions lists the Google Cloud regions. The GCE cloud-controller-manager
// derives the region label from the instance's zone, so these are the
// region parts of zone names such as europe-west1-b.
//
// Source: Google Cloud region tables "Infrastructure Manager locations"
// (https://docs.cloud.google.com/infrastructure-manager/docs/locations),
// "Workload Manager locations" and "Memorystore for Redis regions and
// zones", which mirror "Geography and regions"
// (https://cloud.google.com/about/locations); taken 2026-11.
var gcpRegions = []site{
	{"africa-south1", "ZA", "Johannesburg"},
	{"asia-east1", "TW", "Changhua County"},
	{"asia-east2", "HK", "Hong Kong"},
	{"asia-northeast1", "JP", "Tokyo"},
	{"asia-northeast2", "JP", "Osaka"},
	{"asia-northeast3", "KR", "Seoul"},
	{"asia-south1", "IN", "Mumbai"},
	{"asia-south2", "IN", "Delhi"},
	{"asia-southeast1", "SG", "Jurong West"},
	{"asia-southeast2", "ID", "Jakarta"},
	{"asia-southeast3", "TH", "Bangkok"},
	{"australia-southeast1", "AU", "Sydney"},
	{"australia-southeast2", "AU", "Melbourne"},
	{"europe-central2", "PL", "Warsaw"},
	{"europe-north1", "FI", "Hamina"},
	{"europe-north2", "SE", "Stockholm"},
	{"europe-southwest1", "ES", "Madrid"},
	{"europe-west1", "BE", "St. Ghislain"},
	{"europe-west10", "DE", "Berlin"},
	{"europe-west12", "IT", "Turin"},
	{"europe-west2", "GB", "London"},
	{"europe-west3", "DE", "Frankfurt"},
	{"europe-west4", "NL", "Eemshaven"},
	{"europe-west6", "CH", "Zurich"},
	{"europe-west8", "IT", "Milan"},
	{"europe-west9", "FR", "Paris"},
	{"me-central1", "QA", "Doha"},
	{"me-central2", "SA", "Dammam"},
	{"me-west1", "IL", "Tel Aviv"},
	{"northamerica-northeast1", "CA", "Montréal"},
	{"northamerica-northeast2", "CA", "Toronto"},
	{"northamerica-south1", "MX", "Querétaro"},
	{"southamerica-east1", "BR", "Osasco (São Paulo)"},
	{"southamerica-west1", "CL", "Santiago"},
	{"us-central1", "US", "Council Bluffs, Iowa"},
	{"us-east1", "US", "Moncks Corner, South Carolina"},
	{"us-east4", "US", "Ashburn, Virginia"},
	{"us-east5", "US", "Columbus, Ohio"},
	{"us-south1", "US", "Dallas, Texas"},
	{"us-west1", "US", "The Dalles, Oregon"},
	{"us-west2", "US", "Los Angeles, California"},
	{"us-west3", "US", "Salt Lake City, Utah"},
	{"us-west4", "US", "Las Vegas, Nevada"},
}
