// Command sweepprof is the awsaudit command line (the same cli.Run as cmd/awsaudit) with a CPU
// profile and a heap sampler around it, for the bench harness to name what bounds a sweep:
//
//	sweepprof -cpuprofile FILE -heap FILE -- sweep -t ... --output json
//
// -heap writes the peak of the Go heap's object bytes (live and not yet swept, sampled every 5 ms),
// the GC count and the bytes allocated in all, as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/awsaudit/awsaudit/internal/cli"
)

func main() {
	cpu := flag.String("cpuprofile", "", "write a CPU profile to FILE")
	heap := flag.String("heap", "", "write the peak heap in use to FILE (JSON)")
	flag.Parse()
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
	}
	var (
		peak uint64
		mu   sync.Mutex
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	if *heap != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			// runtime/metrics reads without stopping the world, unlike ReadMemStats.
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for {
				select {
				case <-done:
					return
				case <-t.C:
					metrics.Read(sample)
					mu.Lock()
					peak = max(peak, sample[0].Value.Uint64())
					mu.Unlock()
				}
			}
		}()
	}
	code := cli.Run(context.Background(), flag.Args(), cli.OSEnv())
	close(done)
	wg.Wait()
	if *cpu != "" {
		pprof.StopCPUProfile()
	}
	if *heap != "" {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b, _ := json.Marshal(map[string]uint64{"peak_heap_object_bytes": peak, "num_gc": uint64(ms.NumGC), "total_alloc_bytes": ms.TotalAlloc})
		if err := os.WriteFile(*heap, b, 0o644); err != nil {
			fail(err)
		}
	}
	os.Exit(code)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sweepprof:", err)
	os.Exit(1)
}
