// Package manifest reads Kubernetes manifests the way a GitOps pipeline holds them: files, folders
// (recursively), standard input, multi-document YAML or JSON, and the rendered output of `kustomize
// build` and `helm template`, `List` kinds included. It keeps the file and line of every object so
// that findings and errors point a person at the document to fix, and it never panics on bad input:
// every problem is an *Error with a file and line.
//
// It decodes only the kinds residency checks and reports read: the dataresidency.io policies and
// history (ResidencyRecords, the RecordOfProcessing), StorageClasses,
// PersistentVolumeClaims, PersistentVolumes, and the pod templates of Pods, Deployments,
// StatefulSets (with their volumeClaimTemplates), DaemonSets, ReplicaSets, ReplicationControllers,
// Jobs and CronJobs. Other objects are listed, so that reports can count them, but not decoded.
package manifest
