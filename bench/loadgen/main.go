// loadgen drives the bridges for `make bench`: HTTP POSTs, each body unique and signed the way its sender signs
// it, in a closed loop (fixed concurrency, as fast as answered) or an open loop (a fixed rate, latency measured
// from each request's scheduled time, so a stall is not hidden by the generator waiting on it).
//
// Written here rather than taken from wrk or oha because those replay one body: every channel message needs its
// own message id (the worker drops repeats) and its own HMAC signature. Only Go's standard library is used.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	url         string
	kind        string // channel, webhook or plain
	secret      string
	account     string
	clientID    string
	consumers   int
	concurrency int
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	runID       string
	textBytes   int
	requests    int64 // closed loop only: stop after this many (0: run for the duration)
}

type result struct {
	Mode        string         `json:"mode"`
	Requests    int64          `json:"requests"`
	OK          int64          `json:"ok"`
	Statuses    map[string]int `json:"statuses"`
	Errors      int64          `json:"errors"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"per_second"`
	OfferedRate float64        `json:"offered_rate"`
	P50Ms       float64        `json:"p50_ms"`
	P90Ms       float64        `json:"p90_ms"`
	P99Ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
}

// body builds request number n: unique ids, a consumer picked round-robin, a text of the configured size.
func body(o *options, n int64, sentMs int64) []byte {
	consumer := fmt.Sprintf("+1555%07d", n%int64(o.consumers))
	// The text carries the send time: the sandbox stamps its arrival, the benchmark reads both back.
	text := fmt.Sprintf("%s %d %d ", o.runID, n, sentMs)
	for len(text) < o.textBytes {
		text += "x"
	}
	switch o.kind {
	case "webhook":
		event := map[string]any{
			"kind": "notification",
			"body": map[string]any{"changes": []any{map[string]any{
				"sequence": n, "originatorClientProperties": map[string]any{"type": "AGENT"},
				"originatorId": o.account + ".42", "originatorMetadata": map[string]any{"id": o.account + ".42", "role": "ASSIGNED_AGENT"},
				"serverTimestamp": sentMs, "dialogId": fmt.Sprintf("%s-c%d", o.runID, n%int64(o.consumers)),
				"conversationId": fmt.Sprintf("%s-c%d", o.runID, n%int64(o.consumers)),
				"event":          map[string]any{"type": "ContentEvent", "message": text, "contentType": "text/plain"},
			}}},
			"type": "ms.MessagingEventNotification",
		}
		out, _ := json.Marshal(event)
		return out
	default:
		message := map[string]any{
			"message_id": fmt.Sprintf("%s-%d", o.runID, n), "consumer_id": consumer, "type": "text",
			"text": text, "timestamp": sentMs,
		}
		out, _ := json.Marshal(message)
		return out
	}
}

func sign(o *options, request *http.Request, payload []byte) {
	request.Header.Set("content-type", "application/json")
	switch o.kind {
	case "channel":
		mac := hmac.New(sha256.New, []byte(o.secret))
		mac.Write(payload)
		request.Header.Set("x-channel-signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	case "webhook":
		mac := hmac.New(sha1.New, []byte(o.secret))
		mac.Write(payload)
		request.Header.Set("x-liveperson-signature", "sha1="+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		request.Header.Set("x-liveperson-account-id", o.account)
		request.Header.Set("x-liveperson-client-id", o.clientID)
	}
}

type recorder struct {
	mu        sync.Mutex
	latencies []float64
	statuses  map[string]int
	errors    int64
	ok        int64
	requests  int64
	measuring atomic.Bool
}

func (r *recorder) record(status int, err error, latency time.Duration) {
	if !r.measuring.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err != nil {
		r.errors++
		return
	}
	r.statuses[strconv.Itoa(status)]++
	if status >= 200 && status < 300 {
		r.ok++
	}
	r.latencies = append(r.latencies, float64(latency.Microseconds())/1000.0)
}

func send(client *http.Client, o *options, n int64, scheduled time.Time, rec *recorder) {
	payload := body(o, n, time.Now().UnixMilli())
	request, _ := http.NewRequest(http.MethodPost, o.url, bytes.NewReader(payload))
	sign(o, request, payload)
	response, err := client.Do(request)
	status := 0
	if err == nil {
		io.Copy(io.Discard, response.Body)
		response.Body.Close()
		status = response.StatusCode
	}
	rec.record(status, err, time.Since(scheduled))
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	index := int(p * float64(len(sorted)-1))
	return sorted[index]
}

func main() {
	o := &options{}
	flag.StringVar(&o.url, "url", "", "where to POST")
	flag.StringVar(&o.kind, "kind", "channel", "channel (x-channel-signature), webhook (x-liveperson-signature) or plain")
	flag.StringVar(&o.secret, "secret", "", "signing secret (from the environment LOADGEN_SECRET when empty)")
	flag.StringVar(&o.account, "account", "12345678", "LiveEngage account id (webhook)")
	flag.StringVar(&o.clientID, "client-id", "", "LiveEngage client id (webhook)")
	flag.IntVar(&o.consumers, "consumers", 1000, "distinct consumers (conversations) the requests cycle through")
	flag.IntVar(&o.concurrency, "concurrency", 32, "connections (closed loop) or most requests in flight (open loop)")
	flag.Float64Var(&o.rate, "rate", 0, "requests per second for an open loop; 0 for a closed loop")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before it")
	flag.StringVar(&o.runID, "run-id", "bench", "prefix of every message id and text")
	flag.IntVar(&o.textBytes, "text-bytes", 120, "length of each text")
	flag.Int64Var(&o.requests, "requests", 0, "closed loop: send exactly this many, then stop (no warm-up)")
	flag.Parse()
	if o.secret == "" {
		o.secret = os.Getenv("LOADGEN_SECRET")
	}
	if o.url == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url is required")
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConns: o.concurrency * 2, MaxIdleConnsPerHost: o.concurrency * 2,
		MaxConnsPerHost: o.concurrency, DisableCompression: true}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	rec := &recorder{statuses: map[string]int{}}
	var counter atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	mode := "closed"
	if o.rate > 0 {
		mode = "open"
		slots := make(chan struct{}, o.concurrency)
		wg.Add(1)
		go func() {
			defer wg.Done()
			interval := time.Duration(float64(time.Second) / o.rate)
			next := time.Now()
			for {
				select {
				case <-stop:
					return
				default:
				}
				next = next.Add(interval)
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
				scheduled := next
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-slots; wg.Done() }()
					send(client, o, counter.Add(1), scheduled, rec)
				}()
			}
		}()
	} else {
		for i := 0; i < o.concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := counter.Add(1)
					if o.requests > 0 && n > o.requests {
						return
					}
					send(client, o, n, time.Now(), rec)
				}
			}()
		}
	}
	var elapsed float64
	if o.requests > 0 && o.rate == 0 {
		rec.measuring.Store(true)
		started := time.Now()
		wg.Wait()
		elapsed = time.Since(started).Seconds()
		close(stop)
	} else {
		time.Sleep(o.warmup)
		rec.measuring.Store(true)
		started := time.Now()
		time.Sleep(o.duration)
		rec.measuring.Store(false)
		elapsed = time.Since(started).Seconds()
		close(stop)
		wg.Wait()
	}

	rec.mu.Lock()
	sort.Float64s(rec.latencies)
	out := result{Mode: mode, Requests: rec.requests, OK: rec.ok, Statuses: rec.statuses, Errors: rec.errors,
		Seconds: elapsed, PerSecond: float64(rec.ok) / elapsed, OfferedRate: o.rate,
		P50Ms: percentile(rec.latencies, 0.50), P90Ms: percentile(rec.latencies, 0.90),
		P99Ms: percentile(rec.latencies, 0.99), MaxMs: percentile(rec.latencies, 1.0)}
	rec.mu.Unlock()
	encoded, _ := json.Marshal(out)
	fmt.Println(string(encoded))
}
