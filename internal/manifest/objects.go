package manifest

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// Source is where an object was read: a file ("-" is shown as "stdin") and the 1-based line its
// document starts on. Objects read from a live cluster have an empty Source.
type Source struct {
	File string
	Line int
}

// IsZero reports whether the object came from nowhere in particular (a live cluster).
func (s Source) IsZero() bool { return s.File == "" }

// String formats the source as "file:line".
func (s Source) String() string {
	if s.IsZero() {
		return ""
	}
	if s.Line == 0 {
		return s.File
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// Ref names an object for people: its kind, namespace (empty for cluster-scoped kinds) and name.
type Ref struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// String formats the reference as "Kind namespace/name", or "Kind name" when cluster-scoped.
func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// Object is one Kubernetes object of the input.
type Object struct {
	Ref    Ref
	Source Source
	// Typed is the decoded object for the kinds the checks read, nil for the others.
	Typed metav1.Object
}

// Workload is a pod template and the object that carries it.
type Workload struct {
	Object   *Object
	Template *corev1.PodTemplateSpec
	// ClaimTemplates are a StatefulSet's volumeClaimTemplates: claims its pods will mount.
	ClaimTemplates []corev1.PersistentVolumeClaim
}

// Options change how objects are read.
type Options struct {
	// DefaultNamespace is the namespace of namespaced objects that name none, as `kubectl apply -n`
	// would give them; "default" when empty.
	DefaultNamespace string
}

// Set is what was read: every object in input order, and the decoded ones by kind.
type Set struct {
	Objects       []*Object
	Jurisdictions []*v1alpha1.Jurisdiction
	Stores        []*v1alpha1.PersonalDataStore
	Processors    []*v1alpha1.DataProcessor
	Exceptions    []*v1alpha1.ResidencyException
	// Records and RecordsOfProcessing are read for `kubectl residency report`; check ignores them.
	Records             []*v1alpha1.ResidencyRecord
	RecordsOfProcessing []*v1alpha1.RecordOfProcessing
	StorageClasses      []*storagev1.StorageClass
	Claims              []*corev1.PersistentVolumeClaim
	Volumes             []*corev1.PersistentVolume
	Namespaces          []*corev1.Namespace
	Workloads           []*Workload
	// ClusterPolicies are Karmada PropagationPolicies and ClusterPropagationPolicies and OCM
	// Placements, as JSON.
	ClusterPolicies []*unstructured.Unstructured

	// Files counts the files (and standard input) read.
	Files int

	opts    Options
	objects map[metav1.Object]*Object
}

// NewSet returns an empty set.
func NewSet(opts Options) *Set {
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = metav1.NamespaceDefault
	}
	return &Set{opts: opts, objects: map[metav1.Object]*Object{}}
}

// ObjectOf returns the object record of a decoded object of the set, such as a store, so that a
// finding about it can name its file and line; nil when the object is not in the set.
func (s *Set) ObjectOf(typed metav1.Object) *Object { return s.objects[typed] }

// AddTyped adds an object that was not read from a file, such as a policy listed from a live
// cluster. Kinds the checks do not read are ignored.
func (s *Set) AddTyped(typed metav1.Object, src Source) {
	kind, apiVersion := kindOf(typed)
	if kind == "" {
		return
	}
	obj := &Object{Ref: Ref{APIVersion: apiVersion, Kind: kind, Namespace: typed.GetNamespace(), Name: nameOf(typed)}, Source: src, Typed: typed}
	s.add(obj)
}

// add files a decoded object under its kind.
func (s *Set) add(obj *Object) {
	s.Objects = append(s.Objects, obj)
	if obj.Typed == nil {
		return
	}
	s.objects[obj.Typed] = obj
	tmpl := func(t *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim) {
		if t == nil {
			return
		}
		if t.Namespace == "" {
			t.Namespace = obj.Ref.Namespace
		}
		s.Workloads = append(s.Workloads, &Workload{Object: obj, Template: t, ClaimTemplates: claims})
	}
	switch t := obj.Typed.(type) {
	case *v1alpha1.Jurisdiction:
		s.Jurisdictions = append(s.Jurisdictions, t)
	case *v1alpha1.PersonalDataStore:
		s.Stores = append(s.Stores, t)
	case *v1alpha1.DataProcessor:
		s.Processors = append(s.Processors, t)
	case *v1alpha1.ResidencyException:
		s.Exceptions = append(s.Exceptions, t)
	case *v1alpha1.ResidencyRecord:
		s.Records = append(s.Records, t)
	case *v1alpha1.RecordOfProcessing:
		s.RecordsOfProcessing = append(s.RecordsOfProcessing, t)
	case *storagev1.StorageClass:
		s.StorageClasses = append(s.StorageClasses, t)
	case *corev1.Namespace:
		s.Namespaces = append(s.Namespaces, t)
	case *unstructured.Unstructured:
		s.ClusterPolicies = append(s.ClusterPolicies, t)
	case *corev1.PersistentVolumeClaim:
		s.Claims = append(s.Claims, t)
	case *corev1.PersistentVolume:
		s.Volumes = append(s.Volumes, t)
	case *corev1.Pod:
		tmpl(&corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: t.Spec}, nil)
	case *appsv1.Deployment:
		tmpl(&t.Spec.Template, nil)
	case *appsv1.StatefulSet:
		tmpl(&t.Spec.Template, t.Spec.VolumeClaimTemplates)
	case *appsv1.DaemonSet:
		tmpl(&t.Spec.Template, nil)
	case *appsv1.ReplicaSet:
		tmpl(&t.Spec.Template, nil)
	case *corev1.ReplicationController:
		tmpl(t.Spec.Template, nil)
	case *batchv1.Job:
		tmpl(&t.Spec.Template, nil)
	case *batchv1.CronJob:
		tmpl(&t.Spec.JobTemplate.Spec.Template, nil)
	}
}

// nameOf is the object's name, or its generateName followed by "*" (Helm hooks use generateName).
func nameOf(o metav1.Object) string {
	if o.GetName() == "" && o.GetGenerateName() != "" {
		return o.GetGenerateName() + "*"
	}
	return o.GetName()
}
