package service

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// metrics are kept by hand and written in the Prometheus text exposition format (version 0.0.4): the
// service needs a handful of counters and histograms, not a client library. Label values come only from
// bounded sets (tenant names from the config, statuses, error kinds, policy limit paths).
type metrics struct {
	mu       sync.Mutex
	runs     map[[2]string]float64 // tenant, status
	errs     map[[2]string]float64 // tenant, kind
	rejected map[[2]string]float64 // tenant, reason
	limits   map[string]float64    // limit name
	canceled map[string]float64    // tenant, by the client or by shutdown
	wall     *histogram
	setup    *histogram
	queue    *histogram
	request  *histogram
}

var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

func newMetrics() *metrics {
	return &metrics{
		runs: map[[2]string]float64{}, errs: map[[2]string]float64{}, rejected: map[[2]string]float64{},
		limits: map[string]float64{}, canceled: map[string]float64{},
		wall: newHistogram(durationBuckets), setup: newHistogram(durationBuckets),
		queue: newHistogram(durationBuckets), request: newHistogram(durationBuckets),
	}
}

func (m *metrics) inc(mp map[[2]string]float64, a, b string) {
	m.mu.Lock()
	mp[[2]string{a, b}]++
	m.mu.Unlock()
}

type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func newHistogram(b []float64) *histogram {
	return &histogram{bounds: b, counts: make([]uint64, len(b)+1)}
}

// observe must be called with metrics.mu held.
func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

func (m *metrics) observe(h *histogram, seconds float64) {
	m.mu.Lock()
	h.observe(seconds)
	m.mu.Unlock()
}

// gauges are read at scrape time.
type gauges struct {
	running, queued, maxRunning, maxQueued, pool int
	draining                                     bool
	tenants                                      []tenantGauge
}

type tenantGauge struct {
	name                           string
	running, queued, max, maxQueue int
}

func (m *metrics) write(w io.Writer, g gauges) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := &promWriter{w: w}

	p.head("jailrun_runs_total", "counter", "Runs that produced a result, by tenant and verdict.")
	for _, k := range sortedKeys(m.runs) {
		p.sample("jailrun_runs_total", m.runs[k], "tenant", k[0], "status", k[1])
	}
	p.head("jailrun_run_errors_total", "counter", "Requests that passed admission but produced no verdict, by error kind.")
	for _, k := range sortedKeys(m.errs) {
		p.sample("jailrun_run_errors_total", m.errs[k], "tenant", k[0], "kind", k[1])
	}
	p.head("jailrun_rejected_total", "counter", "Requests refused before running, by reason (quota = 429, queue_full and shutting_down = 503).")
	for _, k := range sortedKeys(m.rejected) {
		p.sample("jailrun_rejected_total", m.rejected[k], "tenant", k[0], "reason", k[1])
	}
	p.head("jailrun_limit_hits_total", "counter", "Runs ended by a limit, by the policy path of the limit.")
	for _, k := range sortedKeys(m.limits) {
		p.sample("jailrun_limit_hits_total", m.limits[k], "limit", k)
	}
	p.head("jailrun_runs_canceled_total", "counter", "Runs killed before they ended because the client went away or the server shut down.")
	for _, k := range sortedKeys(m.canceled) {
		p.sample("jailrun_runs_canceled_total", m.canceled[k], "tenant", k)
	}
	p.histogram("jailrun_run_wall_seconds", "Wall-clock time of the sandboxed command, from exec to exit.", m.wall)
	p.histogram("jailrun_run_setup_seconds", "Time to build the sandbox, up to the command's exec.", m.setup)
	p.histogram("jailrun_queue_wait_seconds", "Time a request waited for a run slot.", m.queue)
	p.histogram("jailrun_request_seconds", "Time from receiving a run request to having its answer.", m.request)

	p.gauge("jailrun_runs_in_flight", "Runs executing now.", g.running)
	p.gauge("jailrun_queue_depth", "Requests waiting for a run slot.", g.queued)
	p.gauge("jailrun_max_concurrent", "Configured global run slots.", g.maxRunning)
	p.gauge("jailrun_max_queue", "Configured global queue length.", g.maxQueued)
	p.gauge("jailrun_pool_size", "Sandboxes prepared ahead of requests (the launcher's warm pool).", g.pool)
	draining := 0
	if g.draining {
		draining = 1
	}
	p.gauge("jailrun_draining", "1 while the server shuts down and refuses new runs.", draining)
	p.head("jailrun_tenant_runs_in_flight", "gauge", "Runs executing now, by tenant.")
	for _, t := range g.tenants {
		p.sample("jailrun_tenant_runs_in_flight", float64(t.running), "tenant", t.name)
	}
	p.head("jailrun_tenant_queue_depth", "gauge", "Requests waiting, by tenant.")
	for _, t := range g.tenants {
		p.sample("jailrun_tenant_queue_depth", float64(t.queued), "tenant", t.name)
	}
	p.head("jailrun_tenant_max_concurrent", "gauge", "Configured concurrency quota, by tenant.")
	for _, t := range g.tenants {
		p.sample("jailrun_tenant_max_concurrent", float64(t.max), "tenant", t.name)
	}
	p.head("jailrun_tenant_max_queue", "gauge", "Configured queue quota, by tenant.")
	for _, t := range g.tenants {
		p.sample("jailrun_tenant_max_queue", float64(t.maxQueue), "tenant", t.name)
	}
}

type promWriter struct{ w io.Writer }

func (p *promWriter) head(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p *promWriter) sample(name string, v float64, labels ...string) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(escapeLabel(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
	io.WriteString(p.w, b.String())
}

func (p *promWriter) gauge(name, help string, v int) {
	p.head(name, "gauge", help)
	p.sample(name, float64(v))
}

func (p *promWriter) histogram(name, help string, h *histogram) {
	p.head(name, "histogram", help)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		p.sample(name+"_bucket", float64(cum), "le", formatFloat(b))
	}
	cum += h.counts[len(h.bounds)]
	p.sample(name+"_bucket", float64(cum), "le", "+Inf")
	p.sample(name+"_sum", h.sum)
	p.sample(name+"_count", float64(h.n))
}

// escapeLabel escapes a label value as the text format requires: backslash, double quote and newline.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func sortedKeys[K interface{ ~string | ~[2]string }](m map[K]float64) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyString(keys[i]) < keyString(keys[j]) })
	return keys
}

func keyString[K interface{ ~string | ~[2]string }](k K) string {
	switch v := any(k).(type) {
	case string:
		return v
	case [2]string:
		return v[0] + "\x00" + v[1]
	}
	return ""
}
