package engine

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// HostPathNote says why a governed pod's hostPath volumes are worth a person's look, or "" when it
// mounts none. It is no violation (the pod may run where it is), but what the pod writes there
// stays on the node, outside every volume a store governs, when the pod moves or the node leaves
// the jurisdiction (relabelled, repurposed, decommissioned). The audit counts such pods and the
// CLI warns (RES019), with these words.
func HostPathNote(spec *corev1.PodSpec) string {
	var mounts []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			mounts = append(mounts, fmt.Sprintf("%s (%s)", v.Name, v.HostPath.Path))
		}
	}
	if len(mounts) == 0 {
		return ""
	}
	return fmt.Sprintf("it mounts hostPath %s: what it writes there stays on the node, outside every volume a store governs, when the pod moves or the node leaves the jurisdiction. "+
		"Fix: keep personal data in a PersistentVolumeClaim the store's volumeSelector governs, or make sure the host path holds none", strings.Join(mounts, ", "))
}
