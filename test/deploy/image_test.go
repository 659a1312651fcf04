package deploy_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// defaultImageRepository is where `make image-push` and the release workflow publish the manager.
const defaultImageRepository = "ghcr.io/residency-operator/residency-operator"

// The image a fresh install pulls is the one released with the chart: both install paths follow
// the chart's appVersion, so bumping it without config/manager (or the reverse) fails here.
var _ = Describe("the manager's default image", func() {
	var appVersion string
	BeforeEach(func() {
		data, err := os.ReadFile(filepath.Join(repoRoot, chartDir, "Chart.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var chart struct {
			AppVersion string `json:"appVersion"`
		}
		Expect(yaml.Unmarshal(data, &chart)).To(Succeed())
		Expect(chart.AppVersion).NotTo(BeEmpty())
		appVersion = chart.AppVersion
	})

	It("is the chart's appVersion in the chart and in config/default", func() {
		want := defaultImageRepository + ":" + appVersion
		Expect(render(chartVariants[0]).manager().Image).To(Equal(want))
		Expect(render(kustomizeVariants[0]).manager().Image).To(Equal(want))
		Expect(render(kustomizeVariants[1]).manager().Image).To(Equal(want))
	})

	It("follows image.repository, image.tag and image.digest (a mirror or a private registry)", func() {
		manager := func(sets ...string) string {
			v := chartVariants[0]
			v.name, v.sets = "image "+sets[len(sets)-1], sets
			return render(v).manager().Image
		}
		Expect(manager("image.repository=mirror.example.com/ro")).To(Equal("mirror.example.com/ro:" + appVersion))
		Expect(manager("image.repository=mirror.example.com/ro", "image.tag=0.1.0-rc.1")).To(Equal("mirror.example.com/ro:0.1.0-rc.1"))
		digest := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		Expect(manager("image.digest=" + digest)).To(Equal(defaultImageRepository + "@" + digest))
	})
})
