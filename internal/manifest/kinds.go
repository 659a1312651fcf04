package manifest

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// groupKind identifies a kind whatever its version: apps/v1beta2 Deployments carry the same pod
// template as apps/v1 ones, and old charts still render them.
type groupKind struct{ group, kind string }

// kindInfo says how to decode a kind the checks read.
type kindInfo struct {
	newObject func() metav1.Object
	// versions, when set, are the only versions this tool understands (our own API).
	versions []string
}

// decoded are the kinds the checks read; everything else is listed but not decoded.
var decoded = map[groupKind]kindInfo{
	{v1alpha1.GroupVersion.Group, "Jurisdiction"}:       {newObject: func() metav1.Object { return &v1alpha1.Jurisdiction{} }, versions: []string{v1alpha1.GroupVersion.Version}},
	{v1alpha1.GroupVersion.Group, "PersonalDataStore"}:  {newObject: func() metav1.Object { return &v1alpha1.PersonalDataStore{} }, versions: []string{v1alpha1.GroupVersion.Version}},
	{v1alpha1.GroupVersion.Group, "DataProcessor"}:      {newObject: func() metav1.Object { return &v1alpha1.DataProcessor{} }, versions: []string{v1alpha1.GroupVersion.Version}},
	{v1alpha1.GroupVersion.Group, "ResidencyException"}: {newObject: func() metav1.Object { return &v1alpha1.ResidencyException{} }, versions: []string{v1alpha1.GroupVersion.Version}},
	{v1alpha1.GroupVersion.Group, "ResidencyRecord"}:    {newObject: func() metav1.Object { return &v1alpha1.ResidencyRecord{} }, versions: []string{v1alpha1.GroupVersion.Version}},
	{v1alpha1.GroupVersion.Group, "RecordOfProcessing"}: {newObject: func() metav1.Object { return &v1alpha1.RecordOfProcessing{} }, versions: []string{v1alpha1.GroupVersion.Version}},
	{"storage.k8s.io", "StorageClass"}:                  {newObject: func() metav1.Object { return &storagev1.StorageClass{} }},
	{"", "PersistentVolumeClaim"}:                       {newObject: func() metav1.Object { return &corev1.PersistentVolumeClaim{} }},
	{"", "PersistentVolume"}:                            {newObject: func() metav1.Object { return &corev1.PersistentVolume{} }},
	{"", "Namespace"}:                                   {newObject: func() metav1.Object { return &corev1.Namespace{} }},
	{"", "Pod"}:                                         {newObject: func() metav1.Object { return &corev1.Pod{} }},
	{"", "ReplicationController"}:                       {newObject: func() metav1.Object { return &corev1.ReplicationController{} }},
	{"apps", "Deployment"}:                              {newObject: func() metav1.Object { return &appsv1.Deployment{} }},
	{"apps", "StatefulSet"}:                             {newObject: func() metav1.Object { return &appsv1.StatefulSet{} }},
	{"apps", "DaemonSet"}:                               {newObject: func() metav1.Object { return &appsv1.DaemonSet{} }},
	{"apps", "ReplicaSet"}:                              {newObject: func() metav1.Object { return &appsv1.ReplicaSet{} }},
	{"batch", "Job"}:                                    {newObject: func() metav1.Object { return &batchv1.Job{} }},
	{"batch", "CronJob"}:                                {newObject: func() metav1.Object { return &batchv1.CronJob{} }},
	// Multi-cluster placement (Karmada, Open Cluster Management), read as JSON: neither project's
	// Go module is a dependency.
	{"policy.karmada.io", "PropagationPolicy"}:          {newObject: func() metav1.Object { return &unstructured.Unstructured{} }},
	{"policy.karmada.io", "ClusterPropagationPolicy"}:   {newObject: func() metav1.Object { return &unstructured.Unstructured{} }},
	{"cluster.open-cluster-management.io", "Placement"}: {newObject: func() metav1.Object { return &unstructured.Unstructured{} }},
}

// clusterScoped are the kinds without a namespace, among those this tool decodes or is likely
// to meet; a namespaced object without metadata.namespace gets the default namespace, these don't.
var clusterScoped = map[groupKind]bool{
	{v1alpha1.GroupVersion.Group, "Jurisdiction"}:                        true,
	{v1alpha1.GroupVersion.Group, "DataProcessor"}:                       true,
	{v1alpha1.GroupVersion.Group, "RecordOfProcessing"}:                  true,
	{"storage.k8s.io", "StorageClass"}:                                   true,
	{"storage.k8s.io", "CSIDriver"}:                                      true,
	{"storage.k8s.io", "VolumeAttachment"}:                               true,
	{"", "PersistentVolume"}:                                             true,
	{"", "Namespace"}:                                                    true,
	{"", "Node"}:                                                         true,
	{"rbac.authorization.k8s.io", "ClusterRole"}:                         true,
	{"rbac.authorization.k8s.io", "ClusterRoleBinding"}:                  true,
	{"apiextensions.k8s.io", "CustomResourceDefinition"}:                 true,
	{"admissionregistration.k8s.io", "MutatingWebhookConfiguration"}:     true,
	{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"}:   true,
	{"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"}:        true,
	{"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"}: true,
	{"apiregistration.k8s.io", "APIService"}:                             true,
	{"scheduling.k8s.io", "PriorityClass"}:                               true,
	{"networking.k8s.io", "IngressClass"}:                                true,
	{"node.k8s.io", "RuntimeClass"}:                                      true,
	{"policy", "PodSecurityPolicy"}:                                      true,
	{"certificates.k8s.io", "CertificateSigningRequest"}:                 true,
	{"flowcontrol.apiserver.k8s.io", "FlowSchema"}:                       true,
	{"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"}:       true,
	{"snapshot.storage.k8s.io", "VolumeSnapshotClass"}:                   true,
	{"snapshot.storage.k8s.io", "VolumeSnapshotContent"}:                 true,
	{"gateway.networking.k8s.io", "GatewayClass"}:                        true,
	{"resource.k8s.io", "DeviceClass"}:                                   true,
	{"cert-manager.io", "ClusterIssuer"}:                                 true,
	{"policy.karmada.io", "ClusterPropagationPolicy"}:                    true,
}

// kindOf names the kind of a decoded object whose TypeMeta may be empty, as objects listed
// through a typed client are.
func kindOf(o metav1.Object) (kind, apiVersion string) {
	switch o.(type) {
	case *v1alpha1.Jurisdiction:
		return "Jurisdiction", v1alpha1.GroupVersion.String()
	case *v1alpha1.PersonalDataStore:
		return "PersonalDataStore", v1alpha1.GroupVersion.String()
	case *v1alpha1.DataProcessor:
		return "DataProcessor", v1alpha1.GroupVersion.String()
	case *v1alpha1.ResidencyException:
		return "ResidencyException", v1alpha1.GroupVersion.String()
	case *v1alpha1.ResidencyRecord:
		return "ResidencyRecord", v1alpha1.GroupVersion.String()
	case *v1alpha1.RecordOfProcessing:
		return "RecordOfProcessing", v1alpha1.GroupVersion.String()
	case *storagev1.StorageClass:
		return "StorageClass", "storage.k8s.io/v1"
	case *corev1.PersistentVolumeClaim:
		return "PersistentVolumeClaim", "v1"
	case *corev1.Namespace:
		return "Namespace", "v1"
	case *corev1.PersistentVolume:
		return "PersistentVolume", "v1"
	case *corev1.Pod:
		return "Pod", "v1"
	case *corev1.ReplicationController:
		return "ReplicationController", "v1"
	case *appsv1.Deployment:
		return "Deployment", "apps/v1"
	case *appsv1.StatefulSet:
		return "StatefulSet", "apps/v1"
	case *appsv1.DaemonSet:
		return "DaemonSet", "apps/v1"
	case *appsv1.ReplicaSet:
		return "ReplicaSet", "apps/v1"
	case *batchv1.Job:
		return "Job", "batch/v1"
	case *batchv1.CronJob:
		return "CronJob", "batch/v1"
	}
	return "", ""
}
