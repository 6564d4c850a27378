// S3 API: path-style (and bucket.localhost / bucket.127.0.0.1 virtual-host) addressing, objects
// streamed to disk and committed with rename (data + JSON metadata trailer in one file, so a crash
// never leaves a half object), multipart uploads under uploads/<id>/.
package main

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	xmlHeader    = `<?xml version="1.0" encoding="UTF-8"?>`
	s3NS         = "http://s3.amazonaws.com/doc/2006-03-01/"
	ownerID      = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
	ownerName    = "peer"
	minPartSize  = 5 << 20
	maxPutSize   = 5 << 30
	trailerMagic = "APO1"
	isoMillis    = "2006-01-02T15:04:05.000Z"
)

type objMeta struct {
	Key          string            `json:"key"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"` // without quotes
	LastModified time.Time         `json:"last_modified"`
	ContentType  string            `json:"content_type,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"` // content-encoding, cache-control, x-amz-checksum-*...
	Meta         map[string]string `json:"meta,omitempty"`    // x-amz-meta-NAME (lower case) → value
	Parts        int               `json:"parts,omitempty"`
}

type bucketInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	objects map[string]*objMeta
}

type uploadInfo struct {
	ID          string            `json:"id"`
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Initiated   time.Time         `json:"initiated"`
	ContentType string            `json:"content_type,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	completing  bool
}

type s3Store struct {
	mu      sync.Mutex
	dir     string
	region  string
	buckets map[string]*bucketInfo
	uploads map[string]*uploadInfo
}

func openS3Store(dir, region string) (*s3Store, error) {
	st := &s3Store{dir: dir, region: region, buckets: map[string]*bucketInfo{}, uploads: map[string]*uploadInfo{}}
	os.RemoveAll(filepath.Join(dir, "tmp")) // leftovers of a crash: never committed
	for _, d := range []string{"tmp", "buckets", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	bdirs, err := os.ReadDir(filepath.Join(dir, "buckets"))
	if err != nil {
		return nil, err
	}
	for _, bd := range bdirs {
		var b bucketInfo
		if err := readJSON(filepath.Join(dir, "buckets", bd.Name(), "bucket.json"), &b); err != nil {
			return nil, err
		}
		b.objects = map[string]*objMeta{}
		files, err := os.ReadDir(filepath.Join(dir, "buckets", bd.Name(), "objects"))
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".obj") {
				continue
			}
			fh, err := os.Open(filepath.Join(dir, "buckets", bd.Name(), "objects", f.Name()))
			if err != nil {
				return nil, err
			}
			m, err := readTrailer(fh)
			fh.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %v", f.Name(), err)
			}
			b.objects[m.Key] = m
		}
		st.buckets[b.Name] = &b
	}
	udirs, err := os.ReadDir(filepath.Join(dir, "uploads"))
	if err != nil {
		return nil, err
	}
	for _, ud := range udirs {
		var u uploadInfo
		if err := readJSON(filepath.Join(dir, "uploads", ud.Name(), "upload.json"), &u); err != nil {
			continue // created but never committed
		}
		st.uploads[u.ID] = &u
	}
	return st, nil
}

func readJSON(path string, v interface{}) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (st *s3Store) objectPath(bucket, key string) string {
	h := sha256.Sum256([]byte(key))
	return filepath.Join(st.dir, "buckets", bucket, "objects", hex.EncodeToString(h[:])+".obj")
}

func (st *s3Store) partPath(id string, n int) string {
	return filepath.Join(st.dir, "uploads", id, fmt.Sprintf("part-%05d", n))
}

// writeTrailer appends the metadata: JSON, its length (uint32 BE), "APO1".
func writeTrailer(f *os.File, m *objMeta) error {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[:4], uint32(len(js)))
	copy(tail[4:], trailerMagic)
	_, err = f.Write(append(js, tail[:]...))
	return err
}

func readTrailer(f *os.File) (*objMeta, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var tail [8]byte
	if fi.Size() < 8 {
		return nil, errors.New("object file too short")
	}
	if _, err := f.ReadAt(tail[:], fi.Size()-8); err != nil {
		return nil, err
	}
	if string(tail[4:]) != trailerMagic {
		return nil, errors.New("object file without trailer")
	}
	n := int64(binary.BigEndian.Uint32(tail[:4]))
	if n > fi.Size()-8 {
		return nil, errors.New("object trailer length out of range")
	}
	js := make([]byte, n)
	if _, err := f.ReadAt(js, fi.Size()-8-n); err != nil {
		return nil, err
	}
	var m objMeta
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	if m.Size != fi.Size()-8-n {
		return nil, errors.New("object size does not match its trailer")
	}
	return &m, nil
}

// ---- errors and helpers ----------------------------------------------------------------------

func requestID() string { return strings.ToUpper(randomHex(8)) }

func xe(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string, extra [][2]string) {
	if rec, ok := w.(*recorder); ok {
		rec.errCode = code
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	var b strings.Builder
	b.WriteString(xmlHeader + "\n<Error><Code>" + xe(code) + "</Code><Message>" + xe(msg) + "</Message>")
	for _, kv := range extra {
		b.WriteString("<" + kv[0] + ">" + xe(kv[1]) + "</" + kv[0] + ">")
	}
	b.WriteString("<RequestId>" + w.Header().Get("x-amz-request-id") + "</RequestId><HostId>" + w.Header().Get("x-amz-id-2") + "</HostId></Error>")
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	io.WriteString(w, b.String())
}

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xmlHeader)+1+len(body)))
	w.WriteHeader(status)
	io.WriteString(w, xmlHeader+"\n"+body)
}

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-') {
			return false
		}
	}
	alnum := func(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }
	return alnum(b[0]) && alnum(b[len(b)-1]) && net.ParseIP(b) == nil
}

// storedHeaders are the request headers S3 keeps with an object and returns on GET/HEAD.
var storedHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
	"Expires", "X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
	"X-Amz-Storage-Class", "X-Amz-Website-Redirect-Location"}

func objectHeaders(r *http.Request) (string, map[string]string, map[string]string) {
	headers := map[string]string{}
	for _, h := range storedHeaders {
		v := r.Header.Get(h)
		if h == "Content-Encoding" { // aws-chunked is transport only, S3 does not store it
			var keep []string
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
					keep = append(keep, e)
				}
			}
			v = strings.Join(keep, ",")
		}
		if v != "" {
			headers[strings.ToLower(h)] = v
		}
	}
	meta := map[string]string{}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-meta-") {
			meta[lk[len("x-amz-meta-"):]] = strings.Join(v, ",")
		}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "binary/octet-stream"
	}
	return ct, headers, meta
}

// ---- routing ---------------------------------------------------------------------------------

type s3Req struct {
	bucket, key string
	query       map[string]string
	params      []queryParam
	body        io.Reader
	auth        *authResult
	chunked     *chunkedReader // aws-chunked body (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
	length      int64          // body length: Content-Length, or the decoded length when chunked
}

func (q *s3Req) has(k string) bool { _, ok := q.query[k]; return ok }

// s3Op names the operation like the AWS API reference does.
func s3Op(method, bucket, key string, q map[string]string) string {
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch {
	case bucket == "":
		if method == http.MethodGet {
			return "ListBuckets"
		}
	case key == "":
		switch method {
		case http.MethodPut:
			if len(q) == 0 {
				return "CreateBucket"
			}
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodDelete:
			if len(q) == 0 {
				return "DeleteBucket"
			}
		case http.MethodPost:
			if has("delete") {
				return "DeleteObjects"
			}
		case http.MethodGet:
			switch {
			case has("location"):
				return "GetBucketLocation"
			case has("uploads"):
				return "ListMultipartUploads"
			case q["list-type"] == "2":
				return "ListObjectsV2"
			case len(q) == 0 || has("prefix") || has("delimiter") || has("marker") || has("max-keys") || has("encoding-type"):
				return "ListObjects"
			}
		}
	default:
		switch method {
		case http.MethodPut:
			if has("partNumber") && has("uploadId") {
				return "UploadPart"
			}
			if len(q) == 0 {
				return "PutObject"
			}
		case http.MethodGet:
			if has("uploadId") {
				return "ListParts"
			}
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			if has("uploadId") {
				return "AbortMultipartUpload"
			}
			return "DeleteObject"
		case http.MethodPost:
			if has("uploads") {
				return "CreateMultipartUpload"
			}
			if has("uploadId") {
				return "CompleteMultipartUpload"
			}
		}
	}
	return "Unsupported"
}

func (s *server) serveS3(w *recorder, r *http.Request, op *string) {
	w.Header().Set("x-amz-request-id", requestID())
	w.Header().Set("x-amz-id-2", base64.StdEncoding.EncodeToString([]byte(randomHex(24))))
	w.Header().Set("Server", "AmazonS3")
	rawPath, rawQuery := rawPathQuery(r)
	params, err := parseQuery(rawQuery)
	if err != nil {
		s3Error(w, r, 400, "InvalidArgument", "the query string is not valid percent-encoding", nil)
		return
	}
	path, err := percentDecode(rawPath)
	if err != nil || !strings.HasPrefix(path, "/") {
		s3Error(w, r, 400, "InvalidURI", "Couldn't parse the specified URI.", nil)
		return
	}
	q := &s3Req{query: map[string]string{}, params: params}
	for _, p := range params {
		if _, ok := q.query[p.key]; !ok {
			q.query[p.key] = p.value
		}
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	vhost := ""
	for _, suffix := range []string{".localhost", ".127.0.0.1"} {
		if strings.HasSuffix(host, suffix) {
			vhost = strings.TrimSuffix(host, suffix)
		}
	}
	if vhost != "" {
		q.bucket, q.key = vhost, path[1:]
	} else {
		rest := path[1:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			q.bucket, q.key = rest[:i], rest[i+1:]
		} else {
			q.bucket = rest
		}
	}
	*op = s3Op(r.Method, q.bucket, q.key, q.query)

	auth, aerr := s.verify.verify(r, "s3", params, nil)
	if aerr != nil {
		s3Error(w, r, aerr.status, aerr.code, aerr.message, aerr.extra)
		return
	}
	q.auth = auth
	q.length = r.ContentLength
	switch {
	case isHex64(auth.payloadHash):
		q.body = &hashCheckReader{r: r.Body, h: sha256.New(), want: auth.payloadHash}
	case auth.payloadHash == unsignedPayload:
		q.body = r.Body
	case auth.payloadHash == streamingUnsignedTrailer:
		n, err := decodedLength(r.Header.Get("X-Amz-Decoded-Content-Length"))
		if err != nil {
			s3Error(w, r, 411, "MissingContentLength", "You must provide the x-amz-decoded-content-length header with aws-chunked bodies.", nil)
			return
		}
		q.chunked = newChunkedReader(r.Body)
		q.body, q.length = q.chunked, n
	default:
		s3Error(w, r, 501, "NotImplemented", "x-amz-content-sha256 "+auth.payloadHash+" (aws-chunked) is not supported by this peer: sign the payload or send UNSIGNED-PAYLOAD", nil)
		return
	}
	if f := s.faults.take(*op); f != nil && s.applyFault(w, r, f, q.body, false) {
		return
	}
	if q.bucket != "" && !validBucketName(q.bucket) && *op != "ListBuckets" {
		s3Error(w, r, 400, "InvalidBucketName", "The specified bucket is not valid.", [][2]string{{"BucketName", q.bucket}})
		return
	}
	if len(q.key) > 1024 {
		s3Error(w, r, 400, "KeyTooLongError", "Your key is too long", nil)
		return
	}
	switch *op {
	case "ListBuckets":
		s.listBuckets(w)
	case "CreateBucket":
		s.createBucket(w, r, q)
	case "HeadBucket":
		s.headBucket(w, r, q)
	case "DeleteBucket":
		s.deleteBucket(w, r, q)
	case "GetBucketLocation":
		s.getBucketLocation(w, r, q)
	case "ListObjectsV2", "ListObjects":
		s.listObjects(w, r, q, *op == "ListObjectsV2")
	case "DeleteObjects":
		s.deleteObjects(w, r, q)
	case "PutObject":
		s.putObject(w, r, q)
	case "GetObject", "HeadObject":
		s.getObject(w, r, q)
	case "DeleteObject":
		s.deleteObject(w, r, q)
	case "CreateMultipartUpload":
		s.createMultipart(w, r, q)
	case "UploadPart":
		s.uploadPart(w, r, q)
	case "CompleteMultipartUpload":
		s.completeMultipart(w, r, q)
	case "AbortMultipartUpload":
		s.abortMultipart(w, r, q)
	case "ListMultipartUploads":
		s.listMultipart(w, r, q)
	case "ListParts":
		s.listParts(w, r, q)
	default:
		s3Error(w, r, 501, "NotImplemented", "A header or query you provided implies functionality that is not implemented (this peer: "+r.Method+" "+r.URL.Path+" ?"+rawQuery+").", nil)
	}
}

func noSuchBucket(w http.ResponseWriter, r *http.Request, b string) {
	s3Error(w, r, 404, "NoSuchBucket", "The specified bucket does not exist", [][2]string{{"BucketName", b}})
}

// bucket returns the bucket or answers NoSuchBucket.
func (s *server) bucket(w http.ResponseWriter, r *http.Request, name string) *bucketInfo {
	s.s3.mu.Lock()
	b := s.s3.buckets[name]
	s.s3.mu.Unlock()
	if b == nil {
		noSuchBucket(w, r, name)
	}
	return b
}

// ---- buckets ---------------------------------------------------------------------------------

func (s *server) listBuckets(w http.ResponseWriter) {
	s.s3.mu.Lock()
	names := make([]string, 0, len(s.s3.buckets))
	for n := range s.s3.buckets {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(`<ListAllMyBucketsResult xmlns="` + s3NS + `"><Owner><ID>` + ownerID + `</ID><DisplayName>` + ownerName + `</DisplayName></Owner><Buckets>`)
	for _, n := range names {
		b.WriteString("<Bucket><Name>" + xe(n) + "</Name><CreationDate>" + s.s3.buckets[n].Created.UTC().Format(isoMillis) + "</CreationDate></Bucket>")
	}
	s.s3.mu.Unlock()
	b.WriteString("</Buckets></ListAllMyBucketsResult>")
	writeXML(w, 200, b.String())
}

func (s *server) createBucket(w http.ResponseWriter, r *http.Request, q *s3Req) {
	body, err := io.ReadAll(io.LimitReader(q.body, 64<<10))
	if err != nil {
		bodyError(w, r, err)
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var cfg struct {
			LocationConstraint string `xml:"LocationConstraint"`
		}
		if err := xml.Unmarshal(body, &cfg); err != nil {
			s3Error(w, r, 400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", nil)
			return
		}
		if cfg.LocationConstraint != s.region || s.region == "us-east-1" {
			s3Error(w, r, 400, "InvalidLocationConstraint", "The specified location-constraint is not valid", [][2]string{{"LocationConstraint", cfg.LocationConstraint}})
			return
		}
	}
	st := s.s3
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.buckets[q.bucket] != nil {
		if s.region == "us-east-1" { // legacy us-east-1: re-creating your own bucket succeeds
			w.Header().Set("Location", "/"+q.bucket)
			w.WriteHeader(200)
			return
		}
		s3Error(w, r, 409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", [][2]string{{"BucketName", q.bucket}})
		return
	}
	b := &bucketInfo{Name: q.bucket, Created: time.Now().UTC(), objects: map[string]*objMeta{}}
	dir := filepath.Join(st.dir, "buckets", q.bucket)
	if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o700); err != nil {
		internalError(w, r, err)
		return
	}
	js, _ := json.Marshal(b)
	if err := writeFileAtomic(filepath.Join(dir, "bucket.json"), js, 0o600); err != nil {
		internalError(w, r, err)
		return
	}
	st.buckets[q.bucket] = b
	w.Header().Set("Location", "/"+q.bucket)
	w.WriteHeader(200)
}

func internalError(w http.ResponseWriter, r *http.Request, err error) {
	s3Error(w, r, 500, "InternalError", "We encountered an internal error. Please try again. ("+err.Error()+")", nil)
}

func (s *server) headBucket(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	w.Header().Set("x-amz-bucket-region", s.region)
	w.WriteHeader(200)
}

func (s *server) deleteBucket(w http.ResponseWriter, r *http.Request, q *s3Req) {
	st := s.s3
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.buckets[q.bucket]
	if b == nil {
		noSuchBucket(w, r, q.bucket)
		return
	}
	if len(b.objects) > 0 {
		s3Error(w, r, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty", [][2]string{{"BucketName", q.bucket}})
		return
	}
	if err := os.RemoveAll(filepath.Join(st.dir, "buckets", q.bucket)); err != nil {
		internalError(w, r, err)
		return
	}
	delete(st.buckets, q.bucket)
	w.WriteHeader(204)
}

func (s *server) getBucketLocation(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	loc := s.region
	if loc == "us-east-1" {
		loc = ""
	}
	writeXML(w, 200, `<LocationConstraint xmlns="`+s3NS+`">`+xe(loc)+`</LocationConstraint>`)
}

// ---- listing ---------------------------------------------------------------------------------

func (s *server) listObjects(w http.ResponseWriter, r *http.Request, q *s3Req, v2 bool) {
	prefix, delim := q.query["prefix"], q.query["delimiter"]
	urlEnc := false
	if et, ok := q.query["encoding-type"]; ok {
		if et != "url" {
			s3Error(w, r, 400, "InvalidArgument", "Invalid Encoding Method specified in Request", [][2]string{{"ArgumentName", "encoding-type"}, {"ArgumentValue", et}})
			return
		}
		urlEnc = true
	}
	enc := func(s string) string {
		if urlEnc {
			return uriEncode(s, true)
		}
		return s
	}
	maxKeys := 1000
	if mk, ok := q.query["max-keys"]; ok {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 0 {
			s3Error(w, r, 400, "InvalidArgument", "Provided max-keys not an integer or within integer range", [][2]string{{"ArgumentName", "max-keys"}, {"ArgumentValue", mk}})
			return
		}
		if n < maxKeys {
			maxKeys = n
		}
	}
	// after: list keys strictly greater; skipPrefix: a common prefix already returned.
	after, skipPrefix := "", ""
	token, hasToken := q.query["continuation-token"]
	if v2 {
		after = q.query["start-after"]
		if hasToken {
			raw, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil || len(raw) < 2 || raw[1] != 0 || (raw[0] != 'k' && raw[0] != 'p') {
				s3Error(w, r, 400, "InvalidArgument", "The continuation token provided is incorrect", [][2]string{{"ArgumentName", "continuation-token"}})
				return
			}
			after = string(raw[2:])
			if raw[0] == 'p' {
				skipPrefix = after
			}
		}
	} else {
		after = q.query["marker"]
		if delim != "" && strings.HasSuffix(after, delim) {
			skipPrefix = after
		}
	}
	b := s.bucket(w, r, q.bucket)
	if b == nil {
		return
	}
	s.s3.mu.Lock()
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var contents, prefixes strings.Builder
	count, truncated, last, lastIsPrefix := 0, false, "", false
	seenPrefix := ""
	for _, k := range keys {
		if skipPrefix != "" && strings.HasPrefix(k, skipPrefix) {
			continue
		}
		cp := ""
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp = k[:len(prefix)+i+len(delim)]
			}
		}
		if cp != "" && cp == seenPrefix {
			continue
		}
		if count >= maxKeys {
			truncated = true
			break
		}
		count++
		if cp != "" {
			seenPrefix = cp
			prefixes.WriteString("<CommonPrefixes><Prefix>" + xe(enc(cp)) + "</Prefix></CommonPrefixes>")
			last, lastIsPrefix = cp, true
			continue
		}
		m := b.objects[k]
		contents.WriteString("<Contents><Key>" + xe(enc(k)) + "</Key><LastModified>" + m.LastModified.UTC().Format(isoMillis) +
			"</LastModified><ETag>&quot;" + m.ETag + "&quot;</ETag><Size>" + strconv.FormatInt(m.Size, 10) + "</Size>")
		if !v2 || q.query["fetch-owner"] == "true" {
			contents.WriteString("<Owner><ID>" + ownerID + "</ID><DisplayName>" + ownerName + "</DisplayName></Owner>")
		}
		contents.WriteString("<StorageClass>STANDARD</StorageClass></Contents>")
		last, lastIsPrefix = k, false
	}
	s.s3.mu.Unlock()

	var out strings.Builder
	out.WriteString(`<ListBucketResult xmlns="` + s3NS + `"><Name>` + xe(q.bucket) + "</Name><Prefix>" + xe(enc(prefix)) + "</Prefix>")
	if v2 {
		if hasToken {
			out.WriteString("<ContinuationToken>" + xe(token) + "</ContinuationToken>")
		}
		if sa, ok := q.query["start-after"]; ok {
			out.WriteString("<StartAfter>" + xe(enc(sa)) + "</StartAfter>")
		}
		out.WriteString("<KeyCount>" + strconv.Itoa(count) + "</KeyCount>")
	} else {
		out.WriteString("<Marker>" + xe(enc(q.query["marker"])) + "</Marker>")
	}
	out.WriteString("<MaxKeys>" + strconv.Itoa(maxKeys) + "</MaxKeys>")
	if delim != "" {
		out.WriteString("<Delimiter>" + xe(enc(delim)) + "</Delimiter>")
	}
	if urlEnc {
		out.WriteString("<EncodingType>url</EncodingType>")
	}
	out.WriteString("<IsTruncated>" + strconv.FormatBool(truncated) + "</IsTruncated>")
	if truncated {
		if v2 {
			kind := "k"
			if lastIsPrefix {
				kind = "p"
			}
			out.WriteString("<NextContinuationToken>" + base64.RawURLEncoding.EncodeToString([]byte(kind+"\x00"+last)) + "</NextContinuationToken>")
		} else if delim != "" {
			out.WriteString("<NextMarker>" + xe(enc(last)) + "</NextMarker>")
		}
	}
	out.WriteString(contents.String() + prefixes.String() + "</ListBucketResult>")
	writeXML(w, 200, out.String())
}

// ---- objects ---------------------------------------------------------------------------------

// bodyError answers a failed body read: payload hash mismatch, short body, or a digest mismatch.
func bodyError(w http.ResponseWriter, r *http.Request, err error) {
	var ph *payloadHashError
	var de *digestError
	switch {
	case errors.As(err, &ph):
		s3Error(w, r, 400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.",
			[][2]string{{"ClientComputedContentSHA256", ph.want}, {"S3ComputedContentSHA256", ph.got}})
	case errors.As(err, &de):
		s3Error(w, r, 400, de.code, de.msg, nil)
	case errors.Is(err, io.ErrUnexpectedEOF):
		s3Error(w, r, 400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header", nil)
	default:
		s3Error(w, r, 400, "IncompleteBody", "The request body could not be read: "+err.Error(), nil)
	}
}

type digestError struct{ code, msg string }

func (e *digestError) Error() string { return e.code + ": " + e.msg }

// digests are the checksums a client may send with a body: Content-MD5 and x-amz-checksum-*.
// checksumHashes are the x-amz-checksum-* algorithms S3 supports (flexible checksums).
var checksumHashes = map[string]func() hash.Hash{
	"x-amz-checksum-crc32":  func() hash.Hash { return crc32.NewIEEE() },
	"x-amz-checksum-crc32c": func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"x-amz-checksum-sha1":   sha1.New,
	"x-amz-checksum-sha256": sha256.New,
}

type digest struct {
	header, name string
	want         []byte
	h            hash.Hash
}

func requestDigests(r *http.Request) ([]digest, error) {
	var out []digest
	add := func(header, name string, h hash.Hash, size int) error {
		v := r.Header.Get(header)
		if v == "" {
			return nil
		}
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != size {
			if header == "Content-Md5" {
				return &digestError{"InvalidDigest", "The Content-MD5 you specified was invalid."}
			}
			return &digestError{"InvalidRequest", "Value for " + strings.ToLower(header) + " header is invalid."}
		}
		out = append(out, digest{header, name, want, h})
		return nil
	}
	for _, d := range []struct {
		header, name string
		h            hash.Hash
		size         int
	}{
		{"Content-Md5", "Content-MD5", md5.New(), 16},
		{"X-Amz-Checksum-Crc32", "CRC32", crc32.NewIEEE(), 4},
		{"X-Amz-Checksum-Crc32c", "CRC32C", crc32.New(crc32.MakeTable(crc32.Castagnoli)), 4},
		{"X-Amz-Checksum-Sha1", "SHA1", sha1.New(), 20},
		{"X-Amz-Checksum-Sha256", "SHA256", sha256.New(), 32},
	} {
		if err := add(d.header, d.name, d.h, d.size); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func checkDigests(ds []digest) error {
	for _, d := range ds {
		if !bytes.Equal(d.h.Sum(nil), d.want) {
			if d.name == "Content-MD5" {
				return &digestError{"BadDigest", "The Content-MD5 you specified did not match what we received."}
			}
			return &digestError{"BadDigest", "The " + d.name + " you specified did not match the calculated checksum."}
		}
	}
	return nil
}

// receive streams the body into a new temp file; it returns the file (positioned at its end),
// the size and the hex MD5. The caller removes the file on failure.
func (s *server) receive(w http.ResponseWriter, r *http.Request, q *s3Req) (*os.File, int64, string, []digest, bool) {
	if q.length < 0 {
		s3Error(w, r, 411, "MissingContentLength", "You must provide the Content-Length HTTP header.", nil)
		return nil, 0, "", nil, false
	}
	if q.length > maxPutSize {
		s3Error(w, r, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", nil)
		return nil, 0, "", nil, false
	}
	digests, err := requestDigests(r)
	if err != nil {
		bodyError(w, r, err)
		return nil, 0, "", nil, false
	}
	trailer := -1 // index in digests of a checksum that arrives as a trailer
	if q.chunked != nil {
		if name := strings.ToLower(r.Header.Get("X-Amz-Trailer")); name != "" {
			h, ok := checksumHashes[name]
			if !ok {
				s3Error(w, r, 400, "InvalidRequest", "The value specified in the x-amz-trailer header is not supported", nil)
				return nil, 0, "", nil, false
			}
			trailer = len(digests)
			digests = append(digests, digest{header: name, name: strings.ToUpper(strings.TrimPrefix(name, "x-amz-checksum-")), h: h()})
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.s3.dir, "tmp"), "put-")
	if err != nil {
		internalError(w, r, err)
		return nil, 0, "", nil, false
	}
	m := md5.New()
	writers := []io.Writer{f, m}
	for _, d := range digests {
		writers = append(writers, d.h)
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(io.MultiWriter(writers...), q.body, buf)
	if err == nil && n != q.length {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && trailer >= 0 {
		want, derr := base64.StdEncoding.DecodeString(q.chunked.trailers[digests[trailer].header])
		if derr != nil || len(want) == 0 {
			err = &digestError{"InvalidRequest", "The trailer " + digests[trailer].header + " is missing or invalid."}
		}
		digests[trailer].want = want
	}
	if err == nil {
		err = checkDigests(digests)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		bodyError(w, r, err)
		return nil, 0, "", nil, false
	}
	return f, n, hex.EncodeToString(m.Sum(nil)), digests, true
}

// commit writes the trailer and renames the temp file over the object, under the store lock.
func (s *server) commit(f *os.File, bucket string, m *objMeta) error {
	err := writeTrailer(f, m)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	st := s.s3
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.buckets[bucket]
	if b == nil {
		os.Remove(f.Name())
		return os.ErrNotExist
	}
	if err := os.Rename(f.Name(), st.objectPath(bucket, m.Key)); err != nil {
		os.Remove(f.Name())
		return err
	}
	b.objects[m.Key] = m
	return nil
}

func (s *server) putObject(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	f, size, etag, digests, ok := s.receive(w, r, q)
	if !ok {
		return
	}
	ct, headers, meta := objectHeaders(r)
	for _, d := range digests {
		if d.name != "Content-MD5" {
			headers["x-amz-checksum-"+strings.ToLower(d.name)] = base64.StdEncoding.EncodeToString(d.want)
		}
	}
	m := &objMeta{Key: q.key, Size: size, ETag: etag, LastModified: time.Now().UTC(), ContentType: ct, Headers: headers, Meta: meta}
	if err := s.commit(f, q.bucket, m); err != nil {
		if os.IsNotExist(err) {
			noSuchBucket(w, r, q.bucket)
			return
		}
		internalError(w, r, err)
		return
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	for k, v := range headers {
		if strings.HasPrefix(k, "x-amz-checksum-") || strings.HasPrefix(k, "x-amz-server-side-encryption") {
			w.Header()[k] = []string{v}
		}
	}
	w.WriteHeader(200)
}

// parseRange handles "bytes=a-b", "bytes=a-", "bytes=-n"; ok=false means ignore the header
// (several ranges or a syntax S3 ignores), err means 416.
func parseRange(h string, size int64) (start, end int64, ok bool, unsat bool) {
	if !strings.HasPrefix(h, "bytes=") || strings.Contains(h, ",") {
		return 0, 0, false, false
	}
	spec := strings.TrimSpace(h[len("bytes="):])
	i := strings.IndexByte(spec, '-')
	if i < 0 {
		return 0, 0, false, false
	}
	a, b := strings.TrimSpace(spec[:i]), strings.TrimSpace(spec[i+1:])
	switch {
	case a == "" && b == "":
		return 0, 0, false, false
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			return 0, 0, false, false
		}
		if n == 0 {
			return 0, 0, false, true
		}
		if n > size {
			n = size
		}
		if size == 0 {
			return 0, 0, false, true
		}
		return size - n, size - 1, true, false
	default:
		s, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return 0, 0, false, false
		}
		e := size - 1
		if b != "" {
			if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
				return 0, 0, false, false
			}
			if e > size-1 {
				e = size - 1
			}
		}
		if s >= size {
			return 0, 0, false, true
		}
		return s, e, true, false
	}
}

func (s *server) getObject(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	s.s3.mu.Lock()
	f, err := os.Open(s.s3.objectPath(q.bucket, q.key))
	s.s3.mu.Unlock()
	if err != nil {
		if os.IsNotExist(err) {
			s3Error(w, r, 404, "NoSuchKey", "The specified key does not exist.", [][2]string{{"Key", q.key}})
			return
		}
		internalError(w, r, err)
		return
	}
	defer f.Close()
	m, err := readTrailer(f)
	if err != nil {
		internalError(w, r, err)
		return
	}
	h := w.Header()
	etag := `"` + m.ETag + `"`
	if im := r.Header.Get("If-Match"); im != "" && im != etag && im != "*" {
		s3Error(w, r, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", [][2]string{{"Condition", "If-Match"}})
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == etag || inm == "*") {
		h.Set("ETag", etag)
		w.WriteHeader(304)
		return
	}
	h.Set("ETag", etag)
	h.Set("Last-Modified", httpDate(m.LastModified))
	h.Set("Content-Type", m.ContentType)
	h.Set("Accept-Ranges", "bytes")
	for k, v := range m.Headers {
		if strings.HasPrefix(k, "x-amz-checksum-") && r.Header.Get("X-Amz-Checksum-Mode") != "ENABLED" {
			continue
		}
		h[http.CanonicalHeaderKey(k)] = []string{v}
	}
	for k, v := range m.Meta {
		h["x-amz-meta-"+k] = []string{v}
	}
	if m.Parts > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(m.Parts))
	}
	start, end, status := int64(0), m.Size-1, 200
	if rh := r.Header.Get("Range"); rh != "" {
		a, b, ok, unsat := parseRange(rh, m.Size)
		if unsat {
			h.Del("ETag")
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", m.Size))
			s3Error(w, r, 416, "InvalidRange", "The requested range is not satisfiable", [][2]string{{"RangeRequested", rh}, {"ActualObjectSize", strconv.FormatInt(m.Size, 10)}})
			return
		}
		if ok {
			start, end, status = a, b, 206
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, m.Size))
		}
	}
	n := end - start + 1
	if m.Size == 0 {
		n = 0
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return
	}
	io.Copy(w, io.NewSectionReader(f, start, n))
}

func (s *server) deleteObject(w http.ResponseWriter, r *http.Request, q *s3Req) {
	st := s.s3
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.buckets[q.bucket]
	if b == nil {
		noSuchBucket(w, r, q.bucket)
		return
	}
	if b.objects[q.key] != nil {
		if err := os.Remove(st.objectPath(q.bucket, q.key)); err != nil && !os.IsNotExist(err) {
			internalError(w, r, err)
			return
		}
		delete(b.objects, q.key)
	}
	w.WriteHeader(204)
}

func (s *server) deleteObjects(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if r.Header.Get("Content-Md5") == "" && !hasChecksumHeader(r) {
		s3Error(w, r, 400, "InvalidRequest", "Missing required header for this request: Content-Md5.", nil)
		return
	}
	digests, err := requestDigests(r)
	if err != nil {
		bodyError(w, r, err)
		return
	}
	var ws []io.Writer
	for _, d := range digests {
		ws = append(ws, d.h)
	}
	var body bytes.Buffer
	ws = append(ws, &body)
	if _, err := io.Copy(io.MultiWriter(ws...), io.LimitReader(q.body, 4<<20)); err != nil {
		bodyError(w, r, err)
		return
	}
	if err := checkDigests(digests); err != nil {
		bodyError(w, r, err)
		return
	}
	var req struct {
		Quiet   bool `xml:"Quiet"`
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(body.Bytes(), &req); err != nil || len(req.Objects) == 0 || len(req.Objects) > 1000 {
		s3Error(w, r, 400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", nil)
		return
	}
	st := s.s3
	st.mu.Lock()
	b := st.buckets[q.bucket]
	if b == nil {
		st.mu.Unlock()
		noSuchBucket(w, r, q.bucket)
		return
	}
	var out strings.Builder
	out.WriteString(`<DeleteResult xmlns="` + s3NS + `">`)
	for _, o := range req.Objects {
		if b.objects[o.Key] != nil {
			if err := os.Remove(st.objectPath(q.bucket, o.Key)); err != nil && !os.IsNotExist(err) {
				out.WriteString("<Error><Key>" + xe(o.Key) + "</Key><Code>InternalError</Code><Message>" + xe(err.Error()) + "</Message></Error>")
				continue
			}
			delete(b.objects, o.Key)
		}
		if !req.Quiet {
			out.WriteString("<Deleted><Key>" + xe(o.Key) + "</Key></Deleted>")
		}
	}
	st.mu.Unlock()
	out.WriteString("</DeleteResult>")
	writeXML(w, 200, out.String())
}

func hasChecksumHeader(r *http.Request) bool {
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			return true
		}
	}
	return false
}

// ---- multipart -------------------------------------------------------------------------------

func (s *server) createMultipart(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(q.body, 1<<20))
	ct, headers, meta := objectHeaders(r)
	u := &uploadInfo{ID: randomHex(32), Bucket: q.bucket, Key: q.key, Initiated: time.Now().UTC(),
		ContentType: ct, Headers: headers, Meta: meta}
	dir := filepath.Join(s.s3.dir, "uploads", u.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		internalError(w, r, err)
		return
	}
	js, _ := json.Marshal(u)
	if err := writeFileAtomic(filepath.Join(dir, "upload.json"), js, 0o600); err != nil {
		internalError(w, r, err)
		return
	}
	s.s3.mu.Lock()
	s.s3.uploads[u.ID] = u
	s.s3.mu.Unlock()
	writeXML(w, 200, `<InitiateMultipartUploadResult xmlns="`+s3NS+`"><Bucket>`+xe(q.bucket)+"</Bucket><Key>"+xe(q.key)+
		"</Key><UploadId>"+u.ID+"</UploadId></InitiateMultipartUploadResult>")
}

// upload returns the upload named by ?uploadId= for this bucket/key, or answers NoSuchUpload.
func (s *server) upload(w http.ResponseWriter, r *http.Request, q *s3Req) *uploadInfo {
	s.s3.mu.Lock()
	u := s.s3.uploads[q.query["uploadId"]]
	s.s3.mu.Unlock()
	if u == nil || u.Bucket != q.bucket || u.Key != q.key {
		s3Error(w, r, 404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", [][2]string{{"UploadId", q.query["uploadId"]}})
		return nil
	}
	return u
}

func (s *server) uploadPart(w http.ResponseWriter, r *http.Request, q *s3Req) {
	n, err := strconv.Atoi(q.query["partNumber"])
	if err != nil || n < 1 || n > 10000 {
		s3Error(w, r, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", [][2]string{{"ArgumentName", "partNumber"}, {"ArgumentValue", q.query["partNumber"]}})
		return
	}
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	u := s.upload(w, r, q)
	if u == nil {
		return
	}
	f, size, etag, _, ok := s.receive(w, r, q)
	if !ok {
		return
	}
	m := &objMeta{Key: q.key, Size: size, ETag: etag, LastModified: time.Now().UTC()}
	err = writeTrailer(f, m)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.s3.partPath(u.ID, n))
	}
	if err != nil {
		os.Remove(f.Name())
		if os.IsNotExist(err) { // aborted meanwhile
			s3Error(w, r, 404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", [][2]string{{"UploadId", u.ID}})
			return
		}
		internalError(w, r, err)
		return
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	w.WriteHeader(200)
}

func (s *server) partMeta(id string, n int) (*objMeta, error) {
	f, err := os.Open(s.s3.partPath(id, n))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readTrailer(f)
}

func (s *server) completeMultipart(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	u := s.upload(w, r, q)
	if u == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(q.body, 4<<20))
	if err != nil {
		bodyError(w, r, err)
		return
	}
	var req struct {
		Parts []struct {
			PartNumber int    `xml:"PartNumber"`
			ETag       string `xml:"ETag"`
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Parts) == 0 {
		s3Error(w, r, 400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema", nil)
		return
	}
	for i, p := range req.Parts {
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			s3Error(w, r, 400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.", [][2]string{{"UploadId", u.ID}})
			return
		}
	}
	metas := make([]*objMeta, len(req.Parts))
	for i, p := range req.Parts {
		m, err := s.partMeta(u.ID, p.PartNumber)
		if err != nil || strings.Trim(p.ETag, `"`) != m.ETag {
			s3Error(w, r, 400, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
				[][2]string{{"UploadId", u.ID}, {"PartNumber", strconv.Itoa(p.PartNumber)}, {"ETag", p.ETag}})
			return
		}
		if i < len(req.Parts)-1 && m.Size < minPartSize {
			s3Error(w, r, 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
				[][2]string{{"ProposedSize", strconv.FormatInt(m.Size, 10)}, {"MinSizeAllowed", strconv.Itoa(minPartSize)}, {"PartNumber", strconv.Itoa(p.PartNumber)}, {"ETag", m.ETag}})
			return
		}
		metas[i] = m
	}
	s.s3.mu.Lock()
	if u.completing {
		s.s3.mu.Unlock()
		s3Error(w, r, 409, "OperationAborted", "A conflicting conditional operation is currently in progress against this resource. Please try again.", nil)
		return
	}
	u.completing = true
	s.s3.mu.Unlock()
	done := false
	defer func() {
		if !done {
			s.s3.mu.Lock()
			u.completing = false
			s.s3.mu.Unlock()
		}
	}()

	out, err := os.CreateTemp(filepath.Join(s.s3.dir, "tmp"), "complete-")
	if err != nil {
		internalError(w, r, err)
		return
	}
	md5s := md5.New()
	var total int64
	for i, p := range req.Parts {
		raw, _ := hex.DecodeString(metas[i].ETag)
		md5s.Write(raw)
		pf, err := os.Open(s.s3.partPath(u.ID, p.PartNumber))
		if err == nil {
			_, err = io.CopyN(out, pf, metas[i].Size) // copy_file_range on Linux
			pf.Close()
		}
		if err != nil {
			out.Close()
			os.Remove(out.Name())
			internalError(w, r, err)
			return
		}
		total += metas[i].Size
	}
	etag := fmt.Sprintf("%s-%d", hex.EncodeToString(md5s.Sum(nil)), len(req.Parts))
	m := &objMeta{Key: u.Key, Size: total, ETag: etag, LastModified: time.Now().UTC(), ContentType: u.ContentType,
		Headers: u.Headers, Meta: u.Meta, Parts: len(req.Parts)}
	if err := s.commit(out, u.Bucket, m); err != nil {
		internalError(w, r, err)
		return
	}
	done = true
	s.s3.mu.Lock()
	delete(s.s3.uploads, u.ID)
	s.s3.mu.Unlock()
	os.RemoveAll(filepath.Join(s.s3.dir, "uploads", u.ID))
	loc := "http://" + r.Host + "/" + uriEncode(u.Bucket, false) + "/" + uriEncode(u.Key, true)
	writeXML(w, 200, `<CompleteMultipartUploadResult xmlns="`+s3NS+`"><Location>`+xe(loc)+"</Location><Bucket>"+xe(u.Bucket)+
		"</Bucket><Key>"+xe(u.Key)+"</Key><ETag>&quot;"+etag+"&quot;</ETag></CompleteMultipartUploadResult>")
}

func (s *server) abortMultipart(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	u := s.upload(w, r, q)
	if u == nil {
		return
	}
	s.s3.mu.Lock()
	delete(s.s3.uploads, u.ID)
	s.s3.mu.Unlock()
	os.RemoveAll(filepath.Join(s.s3.dir, "uploads", u.ID))
	w.WriteHeader(204)
}

func (s *server) listMultipart(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	prefix := q.query["prefix"]
	s.s3.mu.Lock()
	var ups []*uploadInfo
	for _, u := range s.s3.uploads {
		if u.Bucket == q.bucket && strings.HasPrefix(u.Key, prefix) {
			ups = append(ups, u)
		}
	}
	s.s3.mu.Unlock()
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		return ups[i].Initiated.Before(ups[j].Initiated)
	})
	var b strings.Builder
	b.WriteString(`<ListMultipartUploadsResult xmlns="` + s3NS + `"><Bucket>` + xe(q.bucket) + "</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker><Prefix>" +
		xe(prefix) + "</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>")
	owner := "<ID>" + ownerID + "</ID><DisplayName>" + ownerName + "</DisplayName>"
	for _, u := range ups {
		b.WriteString("<Upload><Key>" + xe(u.Key) + "</Key><UploadId>" + u.ID + "</UploadId><Initiator>" + owner + "</Initiator><Owner>" + owner +
			"</Owner><StorageClass>STANDARD</StorageClass><Initiated>" + u.Initiated.Format(isoMillis) + "</Initiated></Upload>")
	}
	b.WriteString("</ListMultipartUploadsResult>")
	writeXML(w, 200, b.String())
}

func (s *server) listParts(w http.ResponseWriter, r *http.Request, q *s3Req) {
	if s.bucket(w, r, q.bucket) == nil {
		return
	}
	u := s.upload(w, r, q)
	if u == nil {
		return
	}
	files, _ := filepath.Glob(filepath.Join(s.s3.dir, "uploads", u.ID, "part-*"))
	sort.Strings(files)
	var b strings.Builder
	b.WriteString(`<ListPartsResult xmlns="` + s3NS + `"><Bucket>` + xe(u.Bucket) + "</Bucket><Key>" + xe(u.Key) + "</Key><UploadId>" + u.ID +
		"</UploadId><PartNumberMarker>0</PartNumberMarker><MaxParts>10000</MaxParts><IsTruncated>false</IsTruncated>")
	for _, f := range files {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(f), "part-"))
		if err != nil {
			continue
		}
		m, err := s.partMeta(u.ID, n)
		if err != nil {
			continue
		}
		b.WriteString("<Part><PartNumber>" + strconv.Itoa(n) + "</PartNumber><LastModified>" + m.LastModified.Format(isoMillis) +
			"</LastModified><ETag>&quot;" + m.ETag + "&quot;</ETag><Size>" + strconv.FormatInt(m.Size, 10) + "</Size></Part>")
	}
	b.WriteString("<StorageClass>STANDARD</StorageClass></ListPartsResult>")
	writeXML(w, 200, b.String())
}
