package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What the demos and the end-to-end tests do with a running cluster, written once.

// ApplyFile creates every object of a YAML file, in file order, each first given to edit (when
// not nil): the demos apply the samples as a person would, the tests as config/default would.
func ApplyFile(ctx context.Context, c client.Client, path string, edit func(*unstructured.Unstructured)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if edit != nil {
			edit(obj)
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("%s: %s %s: %w", path, obj.GetKind(), obj.GetName(), err)
		}
	}
}

// WaitFor polls done every 100 ms until it reports true, fails, or timeout passes.
func WaitFor(ctx context.Context, what string, timeout time.Duration, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// KubectlRunner runs the tool cache's kubectl against kubeconfig and returns its output, or what
// went wrong, for a demo to print.
func KubectlRunner(kubeconfig string) func(args ...string) string {
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	return func(args ...string) string {
		out, err := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("(kubectl %s: %v)\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}
