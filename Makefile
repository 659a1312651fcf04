# residency-operator. `make help` lists the targets.

K8S_VERSION ?= v1.37.2
# Control-plane binaries, kwok and helm are built once per machine into this cache, outside the clone.
TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/residency-operator/k8s-$(K8S_VERSION)
export RESIDENCY_TOOLS_DIR := $(TOOLS_DIR)
export KUBEBUILDER_ASSETS := $(TOOLS_DIR)

CONTROLLER_GEN ?= go tool controller-gen
GOLANGCI_LINT ?= $(TOOLS_DIR)/golangci-lint
# The one list of packages whose tests start a real kube-apiserver (Ginkgo + envtest); run
# verbosely so the output shows the specs that ran. Every other package is pure.
ENVTEST_PKGS := ./api/... ./controllers/... ./internal/webhook/... ./cmd/kubectl-residency/internal/agreement/... \
	./test/e2e/... ./test/deploy/...
# The Ginkgo suites' entry points, and the tests that start a control plane of their own: `make
# unit` skips them and runs the pure tests that sit beside them.
CLUSTER_TESTS := ^(TestAPI|TestControllers|TestWebhooks|TestE2E|TestDeploy|TestAgreement|TestStart|TestNothingOutlivesAKilledTest)$$
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
tools: ## Build the control plane, kwok and helm into $(TOOLS_DIR) (once per machine).
	@bash hack/tools/build.sh >/dev/null

.PHONY: unit
unit: ## Run the pure tests only (engine, catalog, CLI, ...): no control plane, no tool cache, seconds.
	go test -count=1 -skip '$(CLUSTER_TESTS)' ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml) and the workflow linter.
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@bash hack/tools/build.sh golangci-lint >/dev/null

.PHONY: test
test: tools verify ## Run every test: unit, envtest (real kube-apiserver) and e2e.
	go test -count=1 $$(go list ./... | grep -v -x -F "$$(go list $(ENVTEST_PKGS))")
	go test -count=1 -v $(ENVTEST_PKGS) -args -ginkgo.no-color

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
	go run ./hack/demo
