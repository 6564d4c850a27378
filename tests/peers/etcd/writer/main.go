// etcd-writer: a bounded writer for upgrade tests. It puts keys PREFIX/1, PREFIX/2, ... through
// etcd's v3 JSON gateway (POST /v3/kv/put, as etcd_member talks to etcd) over TLS with a client
// certificate, at most -rate puts per second, one at a time, and stops by itself after -duration
// (or as soon as -stop-file exists). A put that fails moves on to the next endpoint, like a
// client with several endpoints. It writes, into -out:
//
//	acked    the numbers etcd acknowledged (one a line): each must be present afterwards
//	failed   the numbers whose put failed (they may or may not have been committed)
//	summary.json  {"acked", "failed", "longest_error_window_ms", "errors", ...}
//
// The error window is the time from the first failed put to the next acknowledged one: how long
// the writer could not write.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type summary struct {
	Acked                int64    `json:"acked"`
	Failed               int64    `json:"failed"`
	LongestErrorWindowMs int64    `json:"longest_error_window_ms"`
	ErrorWindows         int      `json:"error_windows"`
	DurationS            float64  `json:"duration_s"`
	Rate                 int      `json:"rate"`
	FirstErrors          []string `json:"first_errors"`
}

func client(cacert, cert, key string, timeout time.Duration) (*http.Client, error) {
	pem, err := os.ReadFile(cacert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", cacert)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

func put(c *http.Client, endpoint, key, value string) error {
	body, _ := json.Marshal(map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString([]byte(value)),
	})
	resp, err := c.Post(endpoint+"/v3/kv/put", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", endpoint, resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	// A put answers {"header": {...revision...}}; an error has "error"/"code".
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(answer, &doc); err != nil {
		return fmt.Errorf("%s: not JSON: %.200s", endpoint, answer)
	}
	if _, ok := doc["header"]; !ok {
		return fmt.Errorf("%s: no header: %.200s", endpoint, answer)
	}
	return nil
}

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated https:// client URLs")
	cacert := flag.String("cacert", "", "CA certificate")
	cert := flag.String("cert", "", "client certificate")
	key := flag.String("key", "", "client key")
	prefix := flag.String("prefix", "writer/", "key prefix")
	rate := flag.Int("rate", 100, "puts per second at most (1-500)")
	duration := flag.Duration("duration", 10*time.Minute, "stop after this long at the latest")
	stopFile := flag.String("stop-file", "", "stop as soon as this file exists")
	out := flag.String("out", ".", "directory for acked, failed, summary.json")
	timeout := flag.Duration("timeout", 2*time.Second, "timeout of one put")
	flag.Parse()
	if *endpoints == "" || *rate < 1 || *rate > 500 || *duration <= 0 || *duration > time.Hour {
		fmt.Fprintln(os.Stderr, "etcd-writer: -endpoints, -rate 1..500 and -duration up to 1h are required")
		os.Exit(2)
	}
	eps := strings.Split(*endpoints, ",")
	c, err := client(*cacert, *cert, *key, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd-writer:", err)
		os.Exit(2)
	}
	ackedFile, err1 := os.Create(filepath.Join(*out, "acked"))
	failedFile, err2 := os.Create(filepath.Join(*out, "failed"))
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "etcd-writer: cannot write into", *out)
		os.Exit(2)
	}
	acked, failed := bufio.NewWriter(ackedFile), bufio.NewWriter(failedFile)

	var s summary
	s.Rate = *rate
	start := time.Now()
	deadline := start.Add(*duration)
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	current := 0
	var errorSince time.Time
	lastFlush := start
	for n := int64(1); time.Now().Before(deadline); n++ {
		if *stopFile != "" {
			if _, err := os.Stat(*stopFile); err == nil {
				break
			}
		}
		k := *prefix + strconv.FormatInt(n, 10)
		if err := put(c, eps[current], k, strconv.FormatInt(n, 10)); err != nil {
			s.Failed++
			fmt.Fprintln(failed, n)
			if len(s.FirstErrors) < 20 {
				s.FirstErrors = append(s.FirstErrors, time.Since(start).Round(time.Millisecond).String()+" "+err.Error())
			}
			if errorSince.IsZero() {
				errorSince = time.Now()
				s.ErrorWindows++
			}
			current = (current + 1) % len(eps)
		} else {
			s.Acked++
			fmt.Fprintln(acked, n)
			if !errorSince.IsZero() {
				if w := time.Since(errorSince).Milliseconds(); w > s.LongestErrorWindowMs {
					s.LongestErrorWindowMs = w
				}
				errorSince = time.Time{}
			}
		}
		if time.Since(lastFlush) > time.Second {
			acked.Flush()
			failed.Flush()
			lastFlush = time.Now()
		}
		<-tick.C
	}
	if !errorSince.IsZero() { // still failing at the end: that window counts too
		if w := time.Since(errorSince).Milliseconds(); w > s.LongestErrorWindowMs {
			s.LongestErrorWindowMs = w
		}
	}
	s.DurationS = time.Since(start).Seconds()
	acked.Flush()
	failed.Flush()
	ackedFile.Close()
	failedFile.Close()
	doc, _ := json.MarshalIndent(&s, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "summary.json"), append(doc, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "etcd-writer:", err)
		os.Exit(1)
	}
}
