package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// RenderWebhookConfigurations runs `kustomize build dir` and returns the webhook configurations in
// its output, so a local cluster installs exactly what users install (namespace selectors
// included). envtest then points their clientConfig at the local webhook server.
func RenderWebhookConfigurations(ctx context.Context, kustomize, dir string) (
	[]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kustomize, "build", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("kustomize build %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return parseWebhookConfigurations(out)
}

// parseWebhookConfigurations picks the webhook configurations out of a multi-document YAML stream
// and ignores everything else (the Service, for instance).
func parseWebhookConfigurations(stream []byte) (
	[]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var mutating []*admissionregistrationv1.MutatingWebhookConfiguration
	var validating []*admissionregistrationv1.ValidatingWebhookConfiguration
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	for {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("reading the rendered webhook configurations: %w", err)
		}
		if len(bytes.TrimSpace(raw.Raw)) == 0 {
			continue
		}
		obj, _, err := clientgoscheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
		if err != nil {
			if runtime.IsNotRegisteredError(err) {
				continue
			}
			return nil, nil, fmt.Errorf("decoding a rendered object: %w", err)
		}
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			mutating = append(mutating, o)
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			validating = append(validating, o)
		}
	}
	if len(mutating)+len(validating) == 0 {
		return nil, nil, errors.New("the rendered manifests contain no webhook configuration")
	}
	return mutating, validating, nil
}
