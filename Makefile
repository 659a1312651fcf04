# residency-operator. `make help` lists the targets.

K8S_VERSION ?= v1.37.2
# Control-plane binaries, kwok and helm are built once per machine into this cache, outside the clone.
TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/residency-operator/k8s-$(K8S_VERSION)
export RESIDENCY_TOOLS_DIR := $(TOOLS_DIR)
export KUBEBUILDER_ASSETS := $(TOOLS_DIR)

# Every Go build of the tree is static and path-free, as the released image's is (see
# hack/tools/release): the test builds and test/image's image build then share one build cache
# instead of compiling every dependency twice on a cold machine.
export CGO_ENABLED := 0
export GOFLAGS := $(strip $(filter-out -trimpath,$(GOFLAGS)) -trimpath)

CONTROLLER_GEN ?= go tool controller-gen
GOLANGCI_LINT ?= $(TOOLS_DIR)/golangci-lint
# The one list of Ginkgo suites that start a real kube-apiserver (envtest); run verbosely so the
# output shows the specs that ran. Plain Go tests that start one (localcluster, admissionpolicy,
# test/image) run with the others; KUBEBUILDER_ASSETS is exported to every recipe.
ENVTEST_PKGS := ./api/... ./controllers/... ./internal/webhook/... ./cmd/kubectl-residency/internal/agreement/... \
	./test/e2e/... ./test/deploy/... ./test/chaos/...
# The multi-cluster end-to-end tests start a Karmada hub with four member API servers and OCM (about
# 2 GB, a dozen processes): on 2 cores they run alone, after the other packages, so that no member's
# kube-apiserver times out starting while the harness's own smoke tests start theirs.
MULTICLUSTER_PKGS := ./test/multicluster/...
# The Ginkgo suites' entry points, the tests that start a control plane of their own and the ones
# that build images and release archives or need `make tools`' chromium: `make unit` skips them and runs the pure tests that sit
# beside them.
CLUSTER_TESTS := ^(TestAPI|TestControllers|TestWebhooks|TestE2E|TestChaos|TestDeploy|TestAgreement|TestStart|TestNothingOutlivesAKilledTest|TestImage|TestKrewManifest|TestCompiledPoliciesAgree|FuzzCompile|TestReportHTMLInChromium|TestHistoryAcrossDaysRestartsAndChurn|TestReportVerifiesRecordsServedByTheAPIServer|TestKarmadaPropagatesToMembers|TestOCMPlacementDecides|TestKarmadaAndOCMPlacementStayInside)$$
GENERATED := config/crd/bases config/rbac/role.yaml config/webhook/manifests.yaml api/v1alpha1/zz_generated.deepcopy.go \
	charts/residency-operator/crds charts/residency-operator/files

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs, RBAC and webhook manifests from the code's markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/crd-selector-bounds config/crd/bases/*.yaml
	bash hack/sync-chart.sh

.PHONY: generate
generate: ## Generate deepcopy functions.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: verify-generated
verify-generated: ## Fail when generated files (CRDs, RBAC, deepcopy, webhooks, chart copies) are out of date; changes nothing.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$$tmp" 2>/dev/null || true; \
	$(MAKE) -s -C "$$tmp" manifests generate >/dev/null; \
	stale=0; for path in $(GENERATED); do \
	  if ! diff -r "$$path" "$$tmp/$$path" >/dev/null 2>&1; then echo "out of date: $$path"; diff -r "$$path" "$$tmp/$$path" | head -20; stale=1; fi; \
	done; \
	if [ $$stale = 1 ]; then echo "generated files are out of date with the code: run 'make manifests generate' and commit the result"; exit 1; fi; \
	echo "generated files are up to date"

.PHONY: verify
verify: verify-generated verify-fmt vet ## Every check that fails without changing the tree: generated files, gofmt, go vet.

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files -co --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify-fmt
verify-fmt:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

.PHONY: tools
tools: ## Build the control plane, kwok, helm, Karmada and OCM into $(TOOLS_DIR) and install Debian's chromium (once per machine).
	@# The control plane keeps the build settings it was measured and tested with, not the tree's.
	@env -u CGO_ENABLED -u GOFLAGS bash hack/tools/build.sh >/dev/null
	@# Karmada and OCM for test/multicluster and demo-multicluster: a separate step, about 13 minutes cold on 2 cores.
	@env -u CGO_ENABLED -u GOFLAGS bash hack/tools/build.sh multicluster >/dev/null
	@bash hack/tools/chromium.sh >/dev/null

.PHONY: unit
unit: ## Run the pure tests only (engine, catalog, CLI, ...): no control plane, no tool cache, seconds.
	go test -count=1 -skip '$(CLUSTER_TESTS)' ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) lint-workflows ## Run golangci-lint (.golangci.yml) and actionlint on the workflows.
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@bash hack/tools/build.sh golangci-lint >/dev/null

# test/image compiles the manager and the plugin for the image and the archive, and test/chaos
# builds the manager and runs three scenarios: on a cold build cache either can pass go test's
# default 10-minute limit, hence -timeout.
.PHONY: test
test: tools verify ## Run every test: unit, envtest (real kube-apiserver), image, e2e and multi-cluster.
	go test -count=1 -timeout 30m $$(go list ./... | grep -v -x -F "$$(go list $(ENVTEST_PKGS) $(MULTICLUSTER_PKGS))")
	go test -count=1 -timeout 30m $(MULTICLUSTER_PKGS)
	$(MAKE) -s test-release
	go test -count=1 -timeout 30m -v $(ENVTEST_PKGS) -args -ginkgo.no-color

.PHONY: chaos
chaos: tools ## Run the chaos suite alone (make test runs it too): two manager replicas, the leader and kube-apiserver killed under load.
	go test -count=1 -v ./test/chaos/... -args -ginkgo.no-color

.PHONY: bench
bench: tools ## Run the Go benchmarks.
	go test -p 1 -run '^$$' -bench . -benchmem ./...

##@ Build

# Where `make install-plugin` puts kubectl-residency: $(GOBIN) when set, else ~/.local/bin when it
# exists, else bin/ of the clone. kubectl runs `kubectl residency` from any kubectl-residency on $PATH.
PLUGIN_DIR ?= $(or $(shell go env GOBIN),$(if $(wildcard $(HOME)/.local/bin),$(HOME)/.local/bin),$(CURDIR)/bin)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PLUGIN_LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build
build: ## Build the manager and the kubectl-residency plugin into bin/.
	go build -o bin/manager .
	go build -ldflags "$(PLUGIN_LDFLAGS)" -o bin/kubectl-residency ./cmd/kubectl-residency

.PHONY: install-plugin
install-plugin: ## Install kubectl-residency into $(PLUGIN_DIR), so that `kubectl residency` works.
	@mkdir -p $(PLUGIN_DIR)
	go build -ldflags "$(PLUGIN_LDFLAGS)" -o $(PLUGIN_DIR)/kubectl-residency ./cmd/kubectl-residency
	@echo "installed $(PLUGIN_DIR)/kubectl-residency; try: kubectl residency --help"

.PHONY: run
run: manifests generate ## Run the manager (controllers only; the cluster cannot reach local webhooks) against your kubeconfig.
	go run . --leader-elect=false --enable-webhooks=false

.PHONY: demo
demo: tools ## Start a local multi-region control plane, the operator and a sample app, and show where it ran (KEEP=1 keeps it).
	go build -o bin/kubectl-residency ./cmd/kubectl-residency
	go run ./hack/demo

.PHONY: demo-multicluster
demo-multicluster: tools ## Start a Karmada hub with members in three regions and the operator, propagate a governed app, relabel a member out of the EU and show what follows (KEEP=1 keeps it).
	go run ./hack/demo-multicluster

##@ Release

# The chart's appVersion is the release the defaults point at: the image tag of the chart and of
# config/manager, and the tag `make image` records.
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/residency-operator/Chart.yaml)
IMAGE ?= ghcr.io/residency-operator/residency-operator:$(APP_VERSION)
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Every timestamp in the image and the archives is the commit's, so rebuilding a commit gives the same digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# A semantic version for the plugin archives and the krew manifest: the tag, or the next release as a pre-release.
RELEASE_VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --exact-match 2>/dev/null || echo v$(APP_VERSION)-dev)
# The release tool lives in its own module (hack/tools/release) so go-containerregistry pins nothing in go.mod.
RELEASE_TOOL := go -C hack/tools/release run .

.PHONY: image
image: ## Build the multi-arch manager image without Docker: bin/image/oci (OCI layout), .oci.tar, sbom.spdx.json.
	$(RELEASE_TOOL) image --root $(CURDIR) --out $(CURDIR)/bin/image --platforms $(IMAGE_PLATFORMS) \
	  --version $(VERSION) --commit $(COMMIT) --source-date-epoch $(SOURCE_DATE_EPOCH) --ref $(IMAGE)

.PHONY: image-push
image-push: ## Push bin/image/oci to IMAGE=registry/repository:tag (credentials from ~/.docker/config.json; INSECURE=1 for plain HTTP).
	$(RELEASE_TOOL) push --layout $(CURDIR)/bin/image/oci --image $(IMAGE) $(if $(INSECURE),--insecure)

.PHONY: release-local
release-local: ## Build the plugin archives for linux/darwin/windows x amd64/arm64 into bin/release, with checksums and the krew manifest.
	$(RELEASE_TOOL) plugin --root $(CURDIR) --out $(CURDIR)/bin/release --version $(RELEASE_VERSION) \
	  --commit $(COMMIT) --source-date-epoch $(SOURCE_DATE_EPOCH)
	$(RELEASE_TOOL) krew --template $(CURDIR)/plugins/residency.yaml.tmpl --checksums $(CURDIR)/bin/release/checksums.txt \
	  --version $(RELEASE_VERSION) --out $(CURDIR)/bin/release/plugins/residency.yaml

ACTIONLINT_VERSION ?= v1.7.12
.PHONY: lint-workflows
lint-workflows: ## Lint .github/workflows with actionlint (built once into $(TOOLS_DIR)).
	@test -x $(TOOLS_DIR)/actionlint || { mkdir -p $(TOOLS_DIR) && GOBIN=$(TOOLS_DIR) GOFLAGS=-trimpath go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION); }
	$(TOOLS_DIR)/actionlint .github/workflows/*.yaml

.PHONY: test-release
test-release: ## Unit tests of the release tool (reproducible layers, SBOM, push to an in-process registry).
	go -C hack/tools/release test -count=1 ./...
