package engine

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type volumeLookup map[string]*corev1.PersistentVolume

func (l volumeLookup) Node(string) (*corev1.Node, error)                     { return nil, nil }
func (l volumeLookup) Volume(name string) (*corev1.PersistentVolume, error)  { return l[name], nil }
func (l volumeLookup) StorageClass(*string) (*storagev1.StorageClass, error) { return nil, nil }

// TestVolumeLabelsAndAffinityMustAgree: a volume whose topology labels name another region than
// the nodes its affinity lets it attach to is in no trusted place (labels are easy to get wrong;
// the scheduler obeys the affinity), whichever of the two is permitted.
func TestVolumeLabelsAndAffinityMustAgree(t *testing.T) {
	pol, matchers := euOnlyStore(t)
	pv := func(region, affinityZone string) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv"}}
		v.Spec.CSI = &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-1"}
		if region != "" {
			v.Labels = map[string]string{RegionLabel: region}
		}
		if affinityZone != "" {
			v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "topology.ebs.csi.aws.com/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{affinityZone}}}}}}}
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		pv     *corev1.PersistentVolume
		reason Reason // "" for none
		says   string
	}{
		{"labels and affinity agree", pv("eu-central-1", "eu-central-1a"), "", ""},
		{"labels only", pv("eu-central-1", ""), "", ""},
		{"affinity only, outside", pv("", "us-east-1a"), VolumeNotPermitted, "outside the permitted jurisdictions"},
		{"labels say Frankfurt, affinity attaches in Virginia", pv("eu-central-1", "us-east-1a"), VolumeLocationUnknown,
			"its topology labels place it in region eu-central-1 (DE), but its node affinity lets it attach at (region us-east-1, country US"},
		{"labels say Virginia, affinity attaches in Frankfurt", pv("us-east-1", "eu-central-1a"), VolumeLocationUnknown, "in no trusted place"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claim := &ClaimFacts{Labels: map[string]string{"app": "db"}, VolumeName: "pv"}
			v, err := DecideClaim(pol, claim, &Context{Stage: Running, Lookup: volumeLookup{"pv": tc.pv}, Matchers: matchers})
			if err != nil {
				t.Fatal(err)
			}
			found := v.Findings()
			if tc.reason == "" {
				if len(found) > 0 {
					t.Fatalf("want no finding, got %+v", found)
				}
				return
			}
			if len(found) != 1 || found[0].Reason != tc.reason || !strings.Contains(found[0].Message, tc.says) {
				t.Fatalf("want one %s saying %q, got %+v", tc.reason, tc.says, found)
			}
		})
	}
}

func TestHostPathNote(t *testing.T) {
	spec := &corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "spool", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/spool/app"}}},
	}}
	if got := HostPathNote(spec); !strings.Contains(got, "hostPath spool (/var/spool/app)") || !strings.Contains(got, "Fix:") {
		t.Errorf("HostPathNote = %q", got)
	}
	if got := HostPathNote(&corev1.PodSpec{Volumes: spec.Volumes[:1]}); got != "" {
		t.Errorf("no hostPath: HostPathNote = %q", got)
	}
}
