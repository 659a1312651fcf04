# residency-operator. `make help` lists the targets.

K8S_VERSION ?= v1.37.2
# Control-plane binaries, kwok and helm are built once per machine into this cache, outside the clone.
TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/residency-operator/k8s-$(K8S_VERSION)
export RESIDENCY_TOOLS_DIR := $(TOOLS_DIR)
export KUBEBUILDER_ASSETS := $(TOOLS_DIR)

CONTROLLER_GEN ?= go tool controller-gen
# Packages whose tests start a real kube-apiserver (Ginkgo + envtest); run verbosely so the output
# shows the specs that ran.
ENVTEST_PKGS := ./api/... ./controllers/... ./internal/webhook/... ./test/e2e/... ./test/deploy/...
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
	bash hack/sync-chart.sh

.PHONY: generate
generate: ## Generate deepcopy functions.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: verify-generated
verify-generated: ## Fail when generated files are out of date with the code (and bring them up to date).
	@before=$$(find $(GENERATED) -type f 2>/dev/null | sort | xargs -r sha256sum || true); \
	$(MAKE) -s manifests generate; \
	after=$$(find $(GENERATED) -type f 2>/dev/null | sort | xargs -r sha256sum || true); \
	if [ "$$before" != "$$after" ]; then \
	  echo "generated files were out of date with the code; 'make manifests generate' has now updated them:"; \
	  diff <(echo "$$before") <(echo "$$after") || true; \
	  echo "commit the regenerated files"; exit 1; \
	fi; echo "generated files are up to date"

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

.PHONY: test
test: tools verify-generated verify-fmt vet ## Run every test: unit, envtest (real kube-apiserver) and e2e.
	go test -count=1 $$(go list ./... | grep -v -e /api/ -e /controllers -e /internal/webhook -e /test/e2e -e /test/deploy)
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
