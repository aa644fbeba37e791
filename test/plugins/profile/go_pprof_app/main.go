// A Go program serving net/http/pprof with CPU, allocation, goroutine, mutex and block
// activity. Usage: go_pprof_app <listen-addr>. GET /pulls answers how many
// /debug/pprof/ requests it has served (so tests can prove nothing was pulled).
// go_pprof_app <listen-addr> <cert.pem> <key.pem> serves HTTPS instead.
package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var pulls int64
var sink [][]byte

func main() {
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)

	var mu sync.Mutex
	// Lock contention and blocking.
	for i := 0; i < 4; i++ {
		go func() {
			for {
				mu.Lock()
				time.Sleep(time.Millisecond)
				mu.Unlock()
			}
		}()
	}
	ch := make(chan int)
	go func() {
		for {
			time.Sleep(2 * time.Millisecond)
			ch <- 1
		}
	}()
	go func() {
		for range ch {
		}
	}()
	// CPU and allocations.
	go func() {
		x := 0
		for {
			for i := 0; i < 1000000; i++ {
				x += i * i
			}
			b := make([]byte, 64*1024)
			mu.Lock()
			sink = append(sink, b)
			if len(sink) > 64 {
				sink = sink[1:]
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()

	pprofMux := http.DefaultServeMux
	http.HandleFunc("/pulls", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", atomic.LoadInt64(&pulls))
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) >= 13 && r.URL.Path[:13] == "/debug/pprof/" {
			atomic.AddInt64(&pulls, 1)
		}
		pprofMux.ServeHTTP(w, r)
	})
	var err error
	if len(os.Args) > 3 {
		err = http.ListenAndServeTLS(os.Args[1], os.Args[2], os.Args[3], handler)
	} else {
		err = http.ListenAndServe(os.Args[1], handler)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
