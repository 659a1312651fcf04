package webhook_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func namespace(name string) {
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
}

func store(ns, name string, mode v1alpha1.EnforcementMode, selector map[string]string, jurisdictions ...v1alpha1.JurisdictionName) *v1alpha1.PersonalDataStore {
	s := &v1alpha1.PersonalDataStore{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.PersonalDataStoreSpec{
			DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
			AllowedJurisdictions: jurisdictions,
			WorkloadSelector:     metav1.LabelSelector{MatchLabels: selector},
			VolumeSelector:       &metav1.LabelSelector{MatchLabels: selector},
			Enforcement:          mode,
		},
	}
	Expect(k8sClient.Create(ctx, s)).To(Succeed())
	return s
}

// waitGoverned waits until the operator labelled the namespace, which also means the store is in
// the manager's cache that the webhooks read.
func waitGoverned(ns string) {
	Eventually(func(g Gomega) {
		got := &corev1.Namespace{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, got)).To(Succeed())
		g.Expect(got.Labels).To(HaveKeyWithValue(v1alpha1.GovernedNamespaceLabel, "true"))
	}).Should(Succeed())
}

func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
}

func jurisdictionTerm(names ...string) corev1.NodeSelectorTerm {
	t := corev1.NodeSelectorTerm{}
	for _, n := range names {
		t.MatchExpressions = append(t.MatchExpressions, corev1.NodeSelectorRequirement{
			Key: v1alpha1.JurisdictionLabel(n), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}})
	}
	return t
}

func requiredTerms(p *corev1.Pod) []corev1.NodeSelectorTerm {
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil || p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	return p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
}

func expectForbidden(err error, substrings ...string) {
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
	for _, s := range substrings {
		Expect(err.Error()).To(ContainSubstring(s))
	}
}

var _ = Describe("Residency webhooks", Ordered, func() {
	BeforeAll(func() {
		for _, j := range []*v1alpha1.Jurisdiction{
			{ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "FR", "IE", "NL"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "us"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}},
		} {
			Expect(k8sClient.Create(ctx, j)).To(Succeed())
		}
		for name, region := range map[string]string{"eu-node": "eu-central-1", "us-node": "us-east-1"} {
			Expect(k8sClient.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
				Labels: map[string]string{corev1.LabelTopologyRegion: region, v1alpha1.ConfirmedRegionLabel: region, corev1.LabelHostname: name}}})).To(Succeed())
		}
		Eventually(func(g Gomega) {
			for name, j := range map[string]string{"eu-node": "eu", "us-node": "us"} {
				n := &corev1.Node{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
				g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.JurisdictionLabel(j), "true"))
			}
		}).Should(Succeed())

		namespace("shop")
		store("shop", "customer-db", v1alpha1.Enforce, map[string]string{"app": "db"}, "eu")
		waitGoverned("shop")
	})

	Context("placement", func() {
		It("injects the permitted-node affinity and names the stores", func() {
			p := pod("shop", "db-0", map[string]string{"app": "db"})
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Expect(requiredTerms(p)).To(Equal([]corev1.NodeSelectorTerm{jurisdictionTerm("eu")}))
			Expect(p.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "customer-db"))
			Expect(p.Annotations).To(HaveKeyWithValue(v1alpha1.AllowedJurisdictionsAnnotation, "eu"))
		})

		It("ANDs the permitted terms into the pod's own required affinity", func() {
			p := pod("shop", "db-1", map[string]string{"app": "db"})
			ssd := corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}
			nvme := corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"nvme"}}
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{ssd}}, {MatchExpressions: []corev1.NodeSelectorRequirement{nvme}}},
			}}}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			eu := jurisdictionTerm("eu").MatchExpressions[0]
			Expect(requiredTerms(p)).To(ConsistOf(
				corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{ssd, eu}},
				corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{nvme, eu}},
			))
		})

		It("adds the node affinity next to a pod's other affinities and annotations, keeping them", func() {
			p := pod("shop", "db-2", map[string]string{"app": "db"})
			p.Annotations = map[string]string{"prometheus.io/scrape": "true"}
			anti := &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1,
				PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
			preferred := []corev1.PreferredSchedulingTerm{{Weight: 5, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}}}
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: anti, NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred}}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Expect(requiredTerms(p)).To(Equal([]corev1.NodeSelectorTerm{jurisdictionTerm("eu")}))
			Expect(p.Spec.Affinity.PodAntiAffinity).To(Equal(anti))
			Expect(p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution).To(Equal(preferred))
			Expect(p.Annotations).To(HaveKeyWithValue("prometheus.io/scrape", "true"))
			Expect(p.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "customer-db"))

			q := pod("shop", "db-3", map[string]string{"app": "db"})
			q.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: anti}
			Expect(k8sClient.Create(ctx, q)).To(Succeed())
			Expect(requiredTerms(q)).To(Equal([]corev1.NodeSelectorTerm{jurisdictionTerm("eu")}))
			Expect(q.Spec.Affinity.PodAntiAffinity).To(Equal(anti))
		})

		It("leaves pods that no store selects alone", func() {
			p := pod("shop", "web-0", map[string]string{"app": "web"})
			p.Spec.NodeName = "us-node"
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Expect(p.Spec.Affinity).To(BeNil())
			Expect(p.Annotations).NotTo(HaveKey(v1alpha1.StoresAnnotation))
		})
	})

	Context("denial in Enforce mode", func() {
		It("denies a pod whose stores permit no common node, naming both", func() {
			store("shop", "us-analytics", v1alpha1.Enforce, map[string]string{"team": "analytics"}, "us")
			p := pod("shop", "conflicted", map[string]string{"app": "db", "team": "analytics"})
			Eventually(func() error { return k8sClient.Create(ctx, p.DeepCopy(), client.DryRunAll) }).Should(MatchError(ContainSubstring("us-analytics")))
			expectForbidden(k8sClient.Create(ctx, p), `store "customer-db" allows [eu]`, `store "us-analytics" allows [us]`,
				"permit no common node", "Fix:")
		})

		It("denies a pod pinned by nodeName to a node outside its jurisdictions", func() {
			p := pod("shop", "pinned-us", map[string]string{"app": "db"})
			p.Spec.NodeName = "us-node"
			expectForbidden(k8sClient.Create(ctx, p), "spec.nodeName", "node us-node", "country US", `store "customer-db" allows [eu]`, "Fix:")
		})

		It("denies a pod whose own nodeSelector allows only places outside (it could never run), naming them", func() {
			p := pod("shop", "virginia", map[string]string{"app": "db"})
			p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyRegion: "us-east-1"}
			expectForbidden(k8sClient.Create(ctx, p), "spec.nodeSelector", "(region us-east-1, country US",
				"none of which is permitted", `store "customer-db" allows [eu]`, "would stay Pending forever", "Fix:")
			frankfurt := pod("shop", "frankfurt", map[string]string{"app": "db"})
			frankfurt.Spec.NodeSelector = map[string]string{corev1.LabelTopologyRegion: "eu-central-1"}
			Expect(k8sClient.Create(ctx, frankfurt)).To(Succeed())
		})

		It("admits a pod pinned to a permitted node", func() {
			p := pod("shop", "pinned-eu", map[string]string{"app": "db"})
			p.Spec.NodeName = "eu-node"
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
		})

		It("denies a pod pinned to a node that does not exist (location unknown)", func() {
			p := pod("shop", "pinned-ghost", map[string]string{"app": "db"})
			p.Spec.NodeName = "ghost"
			expectForbidden(k8sClient.Create(ctx, p), `"ghost"`, "does not exist")
		})
	})

	Context("volumes", func() {
		BeforeAll(func() {
			immediate, wffc := storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer
			topology := func(regions ...string) []corev1.TopologySelectorTerm {
				return []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{Key: corev1.LabelTopologyRegion, Values: regions}}}}
			}
			for _, sc := range []*storagev1.StorageClass{
				{ObjectMeta: metav1.ObjectMeta{Name: "immediate-anywhere"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &immediate},
				{ObjectMeta: metav1.ObjectMeta{Name: "immediate-us"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &immediate, AllowedTopologies: topology("us-east-1")},
				{ObjectMeta: metav1.ObjectMeta{Name: "immediate-eu"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &immediate, AllowedTopologies: topology("eu-central-1")},
				{ObjectMeta: metav1.ObjectMeta{Name: "wait"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &wffc},
				// eu-west-1 is Ireland at AWS and London at Alibaba: the provisioner says which.
				{ObjectMeta: metav1.ObjectMeta{Name: "aws-regional"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &immediate, AllowedTopologies: topology("eu-west-1", "eu-central-1")},
				{ObjectMeta: metav1.ObjectMeta{Name: "alibaba-london"}, Provisioner: "diskplugin.csi.alibabacloud.com", VolumeBindingMode: &immediate, AllowedTopologies: topology("eu-west-1")},
				{ObjectMeta: metav1.ObjectMeta{Name: "unknown-cloud"}, Provisioner: "disk.example.com", VolumeBindingMode: &immediate, AllowedTopologies: topology("eu-west-1")},
			} {
				Expect(k8sClient.Create(ctx, sc)).To(Succeed())
			}
			pv := func(name string, labels map[string]string, hostAffinity string) *corev1.PersistentVolume {
				v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.PersistentVolumeSpec{
					Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
				}}
				if hostAffinity != "" {
					v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostAffinity}}}}}}}
				}
				return v
			}
			Expect(k8sClient.Create(ctx, pv("pv-us", map[string]string{corev1.LabelTopologyRegion: "us-east-1"}, ""))).To(Succeed())
			Expect(k8sClient.Create(ctx, pv("pv-on-eu-node", nil, "eu-node"))).To(Succeed())
			Expect(k8sClient.Create(ctx, pv("pv-nowhere", nil, ""))).To(Succeed())
		})

		claim := func(name, class, volume string) *corev1.PersistentVolumeClaim {
			c := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "db"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					VolumeName:  volume,
				},
			}
			if class != "-" {
				c.Spec.StorageClassName = ptr.To(class)
			}
			return c
		}

		It("denies a claim whose StorageClass binds Immediate without allowedTopologies", func() {
			expectForbidden(k8sClient.Create(ctx, claim("data-a", "immediate-anywhere", "")),
				"spec.storageClassName", `StorageClass "immediate-anywhere" binds Immediate without allowedTopologies`, "WaitForFirstConsumer")
		})
		It("denies a claim whose StorageClass may provision outside the permitted regions", func() {
			expectForbidden(k8sClient.Create(ctx, claim("data-b", "immediate-us", "")), "region us-east-1", "country US")
		})
		It("admits claims whose StorageClass stays inside, or waits for the pod", func() {
			Expect(k8sClient.Create(ctx, claim("data-c", "immediate-eu", ""))).To(Succeed())
			Expect(k8sClient.Create(ctx, claim("data-d", "wait", ""))).To(Succeed())
		})
		// Governance by data: the claim's store governs whoever mounts it, labelled or not (a
		// kubectl debug --copy-to copy keeps the volumes and drops the labels).
		It("refuses a pod without the store's labels that mounts a claim the store governs", func() {
			Eventually(func() error {
				return k8sClient.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "data-d"}, &corev1.PersistentVolumeClaim{})
			}).Should(Succeed())
			mounting := func(name string, labels map[string]string, claims ...string) *corev1.Pod {
				p := pod("shop", name, labels)
				for _, c := range claims {
					p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c,
						VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
				}
				return p
			}
			Eventually(func() error {
				return k8sClient.Create(ctx, mounting("debug-copy", map[string]string{"debug": "true"}, "data-d"), client.DryRunAll)
			}).Should(HaveOccurred(), "the claim is in the webhook's cache")
			expectForbidden(k8sClient.Create(ctx, mounting("debug-copy", map[string]string{"debug": "true"}, "data-d")),
				"spec.volumes", "PersistentVolumeClaim data-d", `store "customer-db" governs`, "Fix: give the pod (its template) the labels app=db selects")

			placed := mounting("db-with-claim", map[string]string{"app": "db"}, "data-d")
			Expect(k8sClient.Create(ctx, placed)).To(Succeed(), "the store's labels place it")
			Expect(requiredTerms(placed)).To(Equal([]corev1.NodeSelectorTerm{jurisdictionTerm("eu")}))
			Expect(k8sClient.Create(ctx, mounting("scratch-user", map[string]string{"app": "cache"}, "scratch"))).To(Succeed(), "an ungoverned or missing claim changes nothing")
		})
		It("locates a region two clouds share through the StorageClass's provisioner", func() {
			Expect(k8sClient.Create(ctx, claim("data-aws", "aws-regional", ""))).To(Succeed(), "AWS eu-west-1 is Ireland")
			expectForbidden(k8sClient.Create(ctx, claim("data-alibaba", "alibaba-london", "")), "region eu-west-1", "country GB")
			expectForbidden(k8sClient.Create(ctx, claim("data-unknown", "unknown-cloud", "")), "region eu-west-1", "IE at aws", "GB at alibaba",
				`provisioner "disk.example.com" does not say which cloud`)
		})
		It("denies a claim pre-bound to a volume outside the permitted regions, or of unknown location", func() {
			expectForbidden(k8sClient.Create(ctx, claim("data-e", "", "pv-us")), "spec.volumeName", `"pv-us"`, "region us-east-1")
			expectForbidden(k8sClient.Create(ctx, claim("data-f", "", "pv-nowhere")), "location is unknown")
		})
		It("admits a claim pre-bound to a volume on a permitted node", func() {
			Expect(k8sClient.Create(ctx, claim("data-g", "", "pv-on-eu-node"))).To(Succeed())
		})
		It("governs a claim cloned or restored from a governed claim like its source, whatever its own labels", func() {
			copyOf := func(name, class string, source *corev1.TypedLocalObjectReference) *corev1.PersistentVolumeClaim {
				c := claim(name, class, "")
				c.Labels = nil
				c.Spec.DataSource = source
				return c
			}
			clone := &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "data-c"} // app=db: customer-db's
			expectForbidden(k8sClient.Create(ctx, copyOf("clone-us", "immediate-us", clone)), "region us-east-1", `store "customer-db" allows [eu]`)
			Expect(k8sClient.Create(ctx, copyOf("clone-eu", "immediate-eu", clone))).To(Succeed())

			By("a VolumeSnapshot of the governed claim, once the snapshot API is installed")
			snapshotSource := &corev1.TypedLocalObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "data-c-snap"}
			Expect(k8sClient.Create(ctx, copyOf("restore-before-api", "immediate-us", snapshotSource))).To(Succeed(),
				"without the snapshot API nothing says whose data it is (documented)")
			crd := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
				"metadata": map[string]any{"name": "volumesnapshots.snapshot.storage.k8s.io",
					"annotations": map[string]any{"api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/419"}},
				"spec": map[string]any{"group": "snapshot.storage.k8s.io", "scope": "Namespaced",
					"names": map[string]any{"plural": "volumesnapshots", "singular": "volumesnapshot", "kind": "VolumeSnapshot", "listKind": "VolumeSnapshotList"},
					"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
						"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}},
			}}
			Expect(k8sClient.Create(ctx, crd)).To(Succeed())
			snap := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
				"metadata": map[string]any{"name": "data-c-snap", "namespace": "shop"},
				"spec":     map[string]any{"source": map[string]any{"persistentVolumeClaimName": "data-c"}},
			}}
			Eventually(func() error { return k8sClient.Create(ctx, snap) }).Should(Succeed())
			Eventually(func() error {
				return k8sClient.Create(ctx, copyOf("restore-us", "immediate-us", snapshotSource), client.DryRunAll)
			}).
				Should(MatchError(ContainSubstring("region us-east-1")))
			Expect(k8sClient.Create(ctx, copyOf("restore-eu", "immediate-eu", snapshotSource))).To(Succeed())
		})

		It("denies an update that labels a claim bound outside into a store; other updates pass", func() {
			outside := claim("data-i", "", "pv-us")
			outside.Labels = map[string]string{"app": "other"} // no store governs it yet
			Expect(k8sClient.Create(ctx, outside)).To(Succeed())
			outside.Labels["app"] = "db"
			expectForbidden(k8sClient.Update(ctx, outside), "spec.volumeName", `"pv-us"`, "region us-east-1")

			By("an update that keeps its labels, such as an annotation or a resize, passes: the audit reports the claim")
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(outside), outside)).To(Succeed())
			outside.Annotations = map[string]string{"example.com/owner": "team-a"}
			Expect(k8sClient.Update(ctx, outside)).To(Succeed())
		})
	})

	Context("Warn and Audit", func() {
		It("admits with a warning in Warn mode", func() {
			namespace("lenient")
			store("lenient", "profiles", v1alpha1.Warn, map[string]string{"app": "profiles"}, "eu")
			waitGoverned("lenient")
			p := pod("lenient", "pinned-us", map[string]string{"app": "profiles"})
			p.Spec.NodeName = "us-node"
			warnings.take()
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Expect(strings.Join(warnings.take(), "\n")).To(And(ContainSubstring("node us-node"), ContainSubstring("enforcement: Warn")))
			Expect(requiredTerms(p)).To(Equal([]corev1.NodeSelectorTerm{jurisdictionTerm("eu")}), "Warn still injects placement")
		})

		It("changes nothing in Audit mode", func() {
			namespace("observed")
			store("observed", "logs", v1alpha1.Audit, map[string]string{"app": "logs"}, "eu")
			waitGoverned("observed")
			p := pod("observed", "pinned-us", map[string]string{"app": "logs"})
			p.Spec.NodeName = "us-node"
			warnings.take()
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Expect(p.Spec.Affinity).To(BeNil())
			Expect(p.Annotations).To(BeEmpty())
			Expect(warnings.take()).To(BeEmpty())
		})
	})

	Context("exceptions and exempt namespaces", func() {
		It("neither injects nor denies for a pod an active exception covers", func() {
			ex := &v1alpha1.ResidencyException{
				ObjectMeta: metav1.ObjectMeta{Name: "court-order", Namespace: "shop"},
				Spec: v1alpha1.ResidencyExceptionSpec{
					Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "legal-export"}},
					Stores:   []v1alpha1.ObjectName{"customer-db"}, Reason: v1alpha1.LegalProcess,
					Justification: "Subpoena 117 requires production by US counsel.", ApprovedBy: "dpo@example.com",
					ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
				},
			}
			Expect(k8sClient.Create(ctx, ex)).To(Succeed())
			userRoles()
			approve(ex)
			p := pod("shop", "legal-export", map[string]string{"app": "db", "job-name": "legal-export"})
			p.Spec.NodeName = "us-node"
			Eventually(func() error { return k8sClient.Create(ctx, p.DeepCopy(), client.DryRunAll) }).Should(Succeed())
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Expect(p.Spec.Affinity).To(BeNil())
		})

		It("refuses a label change that would make an exception lift a store for a running pod", func() {
			p := pod("shop", "db-relabel", map[string]string{"app": "db"})
			p.Spec.NodeName = "eu-node"
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			relabel := func(labels map[string]string) error {
				patch := client.MergeFrom(p.DeepCopy())
				for k, v := range labels {
					p.Labels[k] = v
				}
				err := k8sClient.Patch(ctx, p, patch)
				if err != nil {
					Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
				}
				return err
			}
			expectForbidden(relabel(map[string]string{"job-name": "legal-export"}),
				"metadata.labels", "ResidencyException court-order", `lift store "customer-db"`, "Fix:")
			Expect(relabel(map[string]string{"tier": "backend"})).To(Succeed(), "labels that change no governance pass")
		})

		It("refuses a label change that brings a pod under a store where it may not run", func() {
			onUS := pod("shop", "cache-on-us", map[string]string{"app": "cache"})
			onUS.Spec.NodeName = "us-node"
			Expect(k8sClient.Create(ctx, onUS)).To(Succeed(), "no store governs it")
			patch := client.MergeFrom(onUS.DeepCopy())
			onUS.Labels["app"] = "db"
			expectForbidden(k8sClient.Patch(ctx, onUS, patch), "node us-node", `store "customer-db" allows [eu]`)

			pending := pod("shop", "cache-pending", map[string]string{"app": "cache"})
			Expect(k8sClient.Create(ctx, pending)).To(Succeed())
			Expect(requiredTerms(pending)).To(BeEmpty())
			patch = client.MergeFrom(pending.DeepCopy())
			pending.Labels["app"] = "db"
			expectForbidden(k8sClient.Patch(ctx, pending, patch), "created without the permitted-node affinity")
		})

		It("never touches kube-system, even with a store in it", func() {
			store("kube-system", "system-db", v1alpha1.Enforce, map[string]string{"app": "db"}, "eu")
			waitGoverned("kube-system")
			p := pod("kube-system", "pinned-us", map[string]string{"app": "db"})
			p.Spec.NodeName = "us-node"
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			Expect(p.Spec.Affinity).To(BeNil())
		})

		It("does not govern namespaces without stores", func() {
			namespace("free")
			p := pod("free", "pinned-us", map[string]string{"app": "db"})
			p.Spec.NodeName = "us-node"
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
		})
	})
})
