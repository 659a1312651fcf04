package check

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/lookup"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// ClusterOptions reads the policies of a live cluster into opts, for `check --cluster`: its
// Jurisdictions, stores, processors, exceptions and StorageClasses are listed; nodes and
// PersistentVolumes are fetched one by one, only those a checked pod or claim names, through the
// same lookup the webhook uses. warn hears lookups that failed for another reason than absence.
func ClusterOptions(ctx context.Context, c client.Reader, opts Options, warn func(what string, err error)) (Options, error) {
	set := manifest.NewSet(manifest.Options{})
	var (
		jurs       v1alpha1.JurisdictionList
		stores     v1alpha1.PersonalDataStoreList
		processors v1alpha1.DataProcessorList
		exceptions v1alpha1.ResidencyExceptionList
		classes    storagev1.StorageClassList
	)
	for _, l := range []struct {
		what string
		list client.ObjectList
	}{
		{"Jurisdictions", &jurs}, {"PersonalDataStores", &stores}, {"DataProcessors", &processors},
		{"ResidencyExceptions", &exceptions}, {"StorageClasses", &classes},
	} {
		if err := c.List(ctx, l.list); err != nil {
			return opts, fmt.Errorf("listing %s in the cluster: %w", l.what, err)
		}
	}
	for i := range jurs.Items {
		if jurs.Items[i].DeletionTimestamp.IsZero() {
			set.AddTyped(&jurs.Items[i], manifest.Source{})
		}
	}
	for i := range stores.Items {
		if stores.Items[i].DeletionTimestamp.IsZero() {
			set.AddTyped(&stores.Items[i], manifest.Source{})
		}
	}
	for i := range processors.Items {
		set.AddTyped(&processors.Items[i], manifest.Source{})
	}
	for i := range exceptions.Items {
		set.AddTyped(&exceptions.Items[i], manifest.Source{})
	}
	for i := range classes.Items {
		set.AddTyped(&classes.Items[i], manifest.Source{})
	}
	cluster := lookup.Reader(ctx, c)
	nodes := map[string]*corev1.Node{}
	volumes := map[string]*corev1.PersistentVolume{}
	opts.Policies, opts.Live = set, true
	opts.NodeByName = func(name string) *corev1.Node {
		if n, ok := nodes[name]; ok {
			return n
		}
		n, err := cluster.Node(name)
		if err != nil {
			warn("node "+name, err)
		}
		nodes[name] = n
		return n
	}
	opts.VolumeByName = func(name string) *corev1.PersistentVolume {
		if v, ok := volumes[name]; ok {
			return v
		}
		v, err := cluster.Volume(name)
		if err != nil {
			warn("PersistentVolume "+name, err)
		}
		volumes[name] = v
		return v
	}
	return opts, nil
}
