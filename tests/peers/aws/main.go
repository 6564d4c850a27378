// aws-peer: an S3 + KMS endpoint on loopback for the etcd-ansible tests. It verifies SigV4 strictly
// (sigv4.go), keeps objects (s3.go) and KMS keys (kms.go) on disk under -data, and has an
// unsigned control API under /_peer/ for fault injection and request statistics (this file).
// Standard library only; built by build.sh (GOPATH mode, no network).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

type server struct {
	region string
	verify *verifier
	s3     *s3Store
	kms    *kmsStore
	faults faultTable
	stats  statTable
	log    *log.Logger
	logHdr bool
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	privateOK := flag.Bool("private-ok", false, "also allow a private (RFC 1918) address: for a "+
		"peer inside the test hosts' bridge namespace, which has no route off the machine")
	addrFile := flag.String("addr-file", "", "file that receives the base URL once listening")
	pidFile := flag.String("pid-file", "", "file that receives the process id once listening")
	dataDir := flag.String("data", "", "directory for buckets, objects and KMS keys (kept across restarts)")
	region := flag.String("region", "us-east-1", "the region this endpoint serves")
	credFlag := flag.String("credentials", "", "AKID:SECRET[:SESSIONTOKEN][,AKID2:SECRET2[:TOKEN2]...]")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS with this PEM certificate")
	tlsKey := flag.String("tls-key", "", "and this PEM key")
	logFile := flag.String("log", "", "request log (default stderr)")
	logHeaders := flag.Bool("log-headers", false, "also log every request's headers (what a client sends)")
	flag.Parse()
	if *dataDir == "" || *credFlag == "" {
		fmt.Fprintln(os.Stderr, "aws-peer: -data and -credentials are required")
		os.Exit(2)
	}
	creds, err := parseCredentials(*credFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws-peer:", err)
		os.Exit(2)
	}
	out := io.Writer(os.Stderr)
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "aws-peer:", err)
			os.Exit(1)
		}
		out = f
	}
	lg := log.New(out, "", log.LstdFlags|log.Lmicroseconds|log.LUTC)
	s3, err := openS3Store(filepath.Join(*dataDir, "s3"), *region)
	if err != nil {
		lg.Fatalf("s3 store: %v", err)
	}
	kms, err := openKMSStore(filepath.Join(*dataDir, "kms"), *region)
	if err != nil {
		lg.Fatalf("kms store: %v", err)
	}
	srv := &server{region: *region, verify: &verifier{region: *region, creds: creds, now: time.Now},
		s3: s3, kms: kms, log: lg, logHdr: *logHeaders}
	srv.stats.reset()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		lg.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() && !(*privateOK && addr.IP.IsPrivate()) {
		lg.Fatalf("refusing to listen on %s: tests stay on 127.0.0.0/8 (or, with -private-ok, "+
			"on the test hosts' private bridge)", addr)
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s", scheme, addr.String())
	if *pidFile != "" {
		if err := writeFileAtomic(*pidFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			lg.Fatalf("pid file: %v", err)
		}
	}
	if *addrFile != "" {
		if err := writeFileAtomic(*addrFile, []byte(url), 0o644); err != nil {
			lg.Fatalf("addr file: %v", err)
		}
	}
	lg.Printf("aws-peer listening on %s region %s data %s", url, *region, *dataDir)
	hs := &http.Server{Handler: srv, ErrorLog: lg, ReadHeaderTimeout: 30 * time.Second}
	if *tlsCert != "" {
		err = hs.ServeTLS(ln, *tlsCert, *tlsKey)
	} else {
		err = hs.Serve(ln)
	}
	lg.Fatalf("serve: %v", err)
}

func parseCredentials(s string) (map[string]credential, error) {
	out := map[string]credential{}
	for _, item := range strings.Split(s, ",") {
		parts := strings.SplitN(item, ":", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("-credentials: %q is not AKID:SECRET[:TOKEN]", item)
		}
		c := credential{secret: parts[1]}
		if len(parts) == 3 {
			c.token = parts[2]
		}
		out[parts[0]] = c
	}
	return out, nil
}

// writeFileAtomic writes a temp file in the same directory and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ---- request plumbing -------------------------------------------------------------------------

// recorder remembers the status and the bytes written, and whether the connection was reset.
type recorder struct {
	http.ResponseWriter
	status  int
	bytes   int64
	errCode string
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if strings.HasPrefix(r.URL.Path, "/_peer/") {
		s.control(rw, r)
		return
	}
	w := &recorder{ResponseWriter: rw}
	if s.logHdr {
		var hs []string
		for k, v := range r.Header {
			hs = append(hs, k+": "+strings.Join(v, ","))
		}
		sort.Strings(hs)
		s.log.Printf("%s %s %s headers: Host: %s | TE: %v | %s", r.RemoteAddr, r.Method, r.RequestURI, r.Host,
			r.TransferEncoding, strings.Join(hs, " | "))
	}
	op := "Unknown"
	defer func() {
		status := fmt.Sprint(w.status)
		if w.status == 0 {
			status = "reset"
		}
		s.stats.add(op, status)
		s.log.Printf("%s %s %s op=%s status=%s code=%s in=%d out=%d %.3fs", r.RemoteAddr, r.Method,
			r.RequestURI, op, status, w.errCode, r.ContentLength, w.bytes, time.Since(start).Seconds())
	}()
	if target := r.Header.Get("X-Amz-Target"); r.Method == http.MethodPost && target != "" {
		op = strings.TrimPrefix(target, "TrentService.")
		if op == target {
			op = "Unknown"
			kmsError(w, 400, "UnknownOperationException", "unknown X-Amz-Target "+target)
			return
		}
		s.serveKMS(w, r, op)
		return
	}
	s.serveS3(w, r, &op)
}

// ---- faults -----------------------------------------------------------------------------------

type faultRule struct {
	Op         string `json:"op"`
	Status     int    `json:"status,omitempty"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	Count      int    `json:"count,omitempty"`
	Reset      bool   `json:"reset,omitempty"`
	AfterBytes int64  `json:"after_bytes,omitempty"`
	DelayMs    int    `json:"delay_ms,omitempty"`
	ErrorIn200 bool   `json:"error_in_200,omitempty"`
	Used       int    `json:"used"`
}

type faultTable struct {
	mu    sync.Mutex
	rules []*faultRule
}

// take returns a copy of the first live rule for op and uses one of its count (count 0 = every
// matching request, until DELETE /_peer/faults).
func (t *faultTable) take(op string) *faultRule {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.rules {
		if r.Op != op && r.Op != "*" {
			continue
		}
		if r.Count > 0 && r.Used >= r.Count {
			continue
		}
		r.Used++
		c := *r
		return &c
	}
	return nil
}

// apply runs the rule; it returns true when the request was answered (or the connection reset)
// and the handler must not run. body is the (verified) request body reader.
func (s *server) applyFault(w *recorder, r *http.Request, f *faultRule, body io.Reader, kms bool) bool {
	if f.DelayMs > 0 {
		time.Sleep(time.Duration(f.DelayMs) * time.Millisecond)
	}
	if f.Reset {
		if f.AfterBytes > 0 {
			io.CopyN(io.Discard, body, f.AfterBytes)
		}
		hj, ok := w.ResponseWriter.(http.Hijacker)
		if !ok {
			s.log.Printf("fault: cannot hijack this connection")
			return false
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			s.log.Printf("fault: hijack: %v", err)
			return false
		}
		abortConn(conn)
		return true
	}
	if f.Status != 0 {
		io.Copy(io.Discard, io.LimitReader(body, 64<<20))
		code, msg := f.Code, f.Message
		if kms {
			if code == "" {
				code = map[int]string{500: "KMSInternalException", 503: "ServiceUnavailableException", 400: "ThrottlingException"}[f.Status]
			}
			if code == "" {
				code = "InjectedFault"
			}
			if msg == "" {
				msg = "injected fault"
			}
			kmsError(w, f.Status, code, msg)
		} else {
			if code == "" {
				code = map[int]string{500: "InternalError", 503: "SlowDown"}[f.Status]
			}
			if code == "" {
				code = "InjectedFault"
			}
			if msg == "" {
				msg = map[string]string{"InternalError": "We encountered an internal error. Please try again.",
					"SlowDown": "Please reduce your request rate."}[code]
			}
			if msg == "" {
				msg = "injected fault"
			}
			s3Error(w, r, f.Status, code, msg, nil)
		}
		return true
	}
	if f.ErrorIn200 && !kms {
		io.Copy(io.Discard, io.LimitReader(body, 64<<20))
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(200)
		// S3 sends 200 at once and the outcome later; an error then comes as the body.
		io.WriteString(w, xmlHeader+"\n\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>"+requestID()+"</RequestId></Error>")
		w.errCode = "InternalError(200)"
		return true
	}
	return false
}

// abortConn closes with a TCP RST (linger 0), like a dropped connection.
func abortConn(c net.Conn) {
	type netConner interface{ NetConn() net.Conn }
	if nc, ok := c.(netConner); ok {
		c = nc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// ---- statistics -------------------------------------------------------------------------------

type statTable struct {
	mu       sync.Mutex
	total    int
	ops      map[string]int
	statuses map[string]int
	byOp     map[string]map[string]int
}

func (t *statTable) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total = 0
	t.ops = map[string]int{}
	t.statuses = map[string]int{}
	t.byOp = map[string]map[string]int{}
}

func (t *statTable) add(op, status string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	t.ops[op]++
	t.statuses[status]++
	if t.byOp[op] == nil {
		t.byOp[op] = map[string]int{}
	}
	t.byOp[op][status]++
}

// ---- control API (not signed) -----------------------------------------------------------------

func (s *server) control(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v interface{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	}
	switch {
	case r.URL.Path == "/_peer/faults" && r.Method == http.MethodPost:
		var req struct {
			Rules []*faultRule `json:"rules"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			reply(400, map[string]string{"error": "bad fault rules: " + err.Error()})
			return
		}
		for _, f := range req.Rules {
			if f.Op == "" {
				reply(400, map[string]string{"error": "every rule needs an op"})
				return
			}
			f.Used = 0
		}
		s.faults.mu.Lock()
		s.faults.rules = append(s.faults.rules, req.Rules...)
		n := len(s.faults.rules)
		s.faults.mu.Unlock()
		reply(200, map[string]int{"rules": n})
	case r.URL.Path == "/_peer/faults" && r.Method == http.MethodGet:
		s.faults.mu.Lock()
		rules := append([]*faultRule{}, s.faults.rules...)
		reply(200, map[string]interface{}{"rules": rules})
		s.faults.mu.Unlock()
	case r.URL.Path == "/_peer/faults" && r.Method == http.MethodDelete:
		s.faults.mu.Lock()
		s.faults.rules = nil
		s.faults.mu.Unlock()
		reply(200, map[string]int{"rules": 0})
	case r.URL.Path == "/_peer/stats" && r.Method == http.MethodGet:
		s.stats.mu.Lock()
		v := map[string]interface{}{"total": s.stats.total, "ops": s.stats.ops,
			"status": s.stats.statuses, "by_op": s.stats.byOp}
		reply(200, v)
		s.stats.mu.Unlock()
	case r.URL.Path == "/_peer/stats/reset" && r.Method == http.MethodPost:
		s.stats.reset()
		reply(200, map[string]int{"total": 0})
	case r.URL.Path == "/_peer/health":
		reply(200, map[string]string{"status": "ok"})
	default:
		reply(404, map[string]string{"error": "unknown control endpoint " + r.Method + " " + r.URL.Path})
	}
}
