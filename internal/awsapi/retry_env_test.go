package awsapi

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestLoadConfigRetries: the tuned retryer applies, and AWS_MAX_ATTEMPTS (or a profile's
// max_attempts) still overrides its attempts, as the SDK documents.
func TestLoadConfigRetries(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  string
		want int64
	}{
		{"tuned attempts", "", 3},
		{"AWS_MAX_ATTEMPTS overrides", "1", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(http.StatusInternalServerError)
			}))
			t.Cleanup(srv.Close)
			t.Setenv("AWS_ENDPOINT_URL", srv.URL)
			t.Setenv("AWS_ACCESS_KEY_ID", "testing")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv("AWS_CONFIG_FILE", "/dev/null")
			t.Setenv("AWS_MAX_ATTEMPTS", tt.env)
			cfg, err := LoadConfig(t.Context(), Options{Region: "us-east-1", MaxAttempts: 3, MaxBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err == nil {
				t.Fatal("no error from a server answering 500")
			}
			if n := calls.Load(); n != tt.want {
				t.Fatalf("%d attempts, want %d", n, tt.want)
			}
		})
	}
}
