package engine

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func TestLabelledJurisdictions(t *testing.T) {
	got := LabelledJurisdictions(map[string]string{
		v1alpha1.JurisdictionLabel("us"):              "true",
		v1alpha1.JurisdictionLabel("eu"):              "true",
		v1alpha1.JurisdictionLabel("affiliate-sites"): "false", // not in it: the terms require "true"
		"topology.kubernetes.io/region":               "eu-central-1",
		v1alpha1.CountryLabel:                         "DE",
	})
	if want := []string{"eu", "us"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("LabelledJurisdictions = %v, want %v", got, want)
	}
	if got := LabelledJurisdictions(nil); len(got) != 0 {
		t.Fatalf("no labels: %v", got)
	}
}

// TestRequirementFromAnnotations: what the mutating webhook writes (StoreNames joined by ",",
// AnnotationValue) reads back as the same requirement; broken annotations read as none.
func TestRequirementFromAnnotations(t *testing.T) {
	store := func(name string, jurs ...v1alpha1.JurisdictionName) v1alpha1.PersonalDataStore {
		return v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PersonalDataStoreSpec{AllowedJurisdictions: jurs}}
	}
	for _, stores := range [][]v1alpha1.PersonalDataStore{
		{store("customer-db", "eu")},
		{store("web-sessions", "us", "eu"), store("customer-db", "eu")},
		{store("a", "eu", "us", "affiliate-sites"), store("b", "us"), store("c", "affiliate-sites", "eu")},
	} {
		req := requirementOf(stores)
		got, ok := RequirementFromAnnotations(map[string]string{
			v1alpha1.StoresAnnotation:               strings.Join(req.StoreNames(), ","),
			v1alpha1.AllowedJurisdictionsAnnotation: req.AnnotationValue(),
		})
		if !ok || !reflect.DeepEqual(got, req) {
			t.Fatalf("read back %+v (ok %v), want %+v", got, ok, req)
		}
	}
	for name, a := range map[string]map[string]string{
		"none":           nil,
		"no stores":      {v1alpha1.AllowedJurisdictionsAnnotation: "eu"},
		"no allowed":     {v1alpha1.StoresAnnotation: "customer-db"},
		"count mismatch": {v1alpha1.StoresAnnotation: "a,b", v1alpha1.AllowedJurisdictionsAnnotation: "eu"},
		"empty group":    {v1alpha1.StoresAnnotation: "a,b", v1alpha1.AllowedJurisdictionsAnnotation: "eu;"},
	} {
		if req, ok := RequirementFromAnnotations(a); ok {
			t.Fatalf("%s: read %+v, want nothing", name, req)
		}
	}
}
