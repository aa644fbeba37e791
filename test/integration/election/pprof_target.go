// A Go program serving net/http/pprof that records when each path was hit, so a test can
// tell how often (and when) the hosts pulled it. Built by the test with GO111MODULE=off.
//
//	pprof_target -listen 127.0.0.1:PORT
//
// GET /hits answers {"<path>":[<unix ns>,...],...}.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

var (
	mu   sync.Mutex
	hits = map[string][]int64{}
)

func counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path] = append(hits[r.URL.Path], time.Now().UnixNano())
		mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address to serve on")
	flag.Parse()

	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/", counted(http.HandlerFunc(pprof.Index)))
	mux.Handle("/debug/pprof/profile", counted(http.HandlerFunc(pprof.Profile)))
	mux.HandleFunc("/hits", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(hits)
	})
	// Some work so the goroutine and heap profiles have samples.
	go func() {
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 64<<10))
			if len(keep) > 64 {
				keep = keep[:0]
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	log.Fatal(http.ListenAndServe(*listen, mux))
}
