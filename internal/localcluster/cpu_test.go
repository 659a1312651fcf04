package localcluster

import (
	"testing"
	"time"
)

func TestSumMetric(t *testing.T) {
	exposition := []byte(`# HELP x
apiserver_admission_webhook_admission_duration_seconds_count{name="placement.pods.dataresidency.io",type="admit"} 3
apiserver_admission_webhook_admission_duration_seconds_count{name="residency.pods.dataresidency.io",type="validating"} 4.5
apiserver_admission_webhook_admission_duration_seconds_count{name="other.example.com",type="admit"} 100
apiserver_admission_webhook_admission_duration_seconds_sum{name="placement.pods.dataresidency.io",type="admit"} 9
`)
	got, err := SumMetric(exposition, "apiserver_admission_webhook_admission_duration_seconds_count{", `.dataresidency.io"`)
	if err != nil || got != 7.5 {
		t.Fatalf("SumMetric = %v, %v; want 7.5", got, err)
	}
	if _, err := SumMetric([]byte("m{a=\"b\"} x\n"), "m{"); err == nil {
		t.Fatal("a sample that is not a number must be an error")
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for p, want := range map[float64]time.Duration{50: 5, 99: 10, 10: 1, 0: 1} {
		if got := Percentile(ds, p); got != want {
			t.Errorf("Percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("the percentile of nothing is 0")
	}
}
