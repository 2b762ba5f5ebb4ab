// Command seed launches a benchmark fleet in a running moto_server: per region a stopped canary,
// compliant instances with 5 to 10 tags each, and violators of the tag scheme
// created_by,department,project. make bench seeds its own moto; this is for reproducing a
// measurement by hand:
//
//	moto_server -H 127.0.0.1 -p 5000 &
//	go run ./scripts/seed -endpoint http://127.0.0.1:5000 -regions us-east-1,us-west-2,eu-west-1 -per-region 1000 -violators 30
//	AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
//	    awsaudit sweep -r us-east-1,us-west-2,eu-west-1 -t created_by,department,project -g 0 --stats
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/awsaudit/awsaudit/bench/fleet"
	"github.com/awsaudit/awsaudit/bench/seed"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:5000", "moto_server URL")
	regions := flag.String("regions", "us-east-1,us-west-2,eu-west-1", "comma-separated regions")
	perRegion := flag.Int("per-region", 300, "instances per region, the canary included")
	violators := flag.Int("violators", -1, "violators over all regions (default 1% of the instances)")
	reset := flag.Bool("reset", false, "wipe moto first (POST /moto-api/reset)")
	flag.Parse()

	names := strings.Split(*regions, ",")
	v := *violators
	if v < 0 {
		v = len(names) * *perRegion / 100
	}
	ctx := context.Background()
	if *reset {
		resp, err := http.Post(*endpoint+"/moto-api/reset", "", nil)
		if err != nil {
			fail(err)
		}
		resp.Body.Close()
	}
	f := fleet.Even(names, *perRegion, v, time.Now())
	out, err := seed.Seed(ctx, mototest.Config(*endpoint, names[0]), f, seed.Options{
		Progress: func(region string, n int, took time.Duration) {
			fmt.Fprintf(os.Stderr, "seed: %s: %d instances in %s\n", region, n, took.Round(time.Millisecond))
		},
	})
	if err != nil {
		fail(err)
	}
	for _, r := range out {
		fmt.Printf("%s\t%d instances\t%d violators\t%d reservations\tcanary %s\n", r.Name, r.Instances, len(r.Violators), r.Reservations, r.Canary)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "seed:", err)
	os.Exit(1)
}
