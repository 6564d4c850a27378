// KMS API (JSON 1.1, POST / with X-Amz-Target: TrentService.<Op>): symmetric keys with random
// material kept under -data/kms, aliases, key policies (stored, not enforced), data keys and
// Encrypt/Decrypt with the encryption context bound as AES-GCM additional data.
// CiphertextBlob (our own opaque format): 0x01 | key id (36 ASCII) | nonce (12) | AES-256-GCM
// ciphertext+tag, AAD = "aws-peer-kms-v1" 0 keyid 0 json(sorted encryption context).
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

const kmsAccount = "111122223333"

type kmsTag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

type kmsKey struct {
	KeyID       string            `json:"key_id"`
	Created     time.Time         `json:"created"`
	Description string            `json:"description"`
	KeyUsage    string            `json:"key_usage"`
	Tags        []kmsTag          `json:"tags"`
	Policies    map[string]string `json:"policies"`
	Material    []byte            `json:"material"`
}

type kmsStore struct {
	mu      sync.Mutex
	dir     string
	region  string
	keys    map[string]*kmsKey
	aliases map[string]string // alias/name → key id
}

type kmsErr struct {
	status    int
	code, msg string
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func openKMSStore(dir, region string) (*kmsStore, error) {
	st := &kmsStore{dir: dir, region: region, keys: map[string]*kmsKey{}, aliases: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "keys", "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		var k kmsKey
		if err := readJSON(f, &k); err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		st.keys[k.KeyID] = &k
	}
	if err := readJSON(filepath.Join(dir, "aliases.json"), &st.aliases); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return st, nil
}

func (st *kmsStore) keyArn(id string) string {
	return "arn:aws:kms:" + st.region + ":" + kmsAccount + ":key/" + id
}

func (st *kmsStore) aliasArn(name string) string {
	return "arn:aws:kms:" + st.region + ":" + kmsAccount + ":" + name
}

func (st *kmsStore) saveKey(k *kmsKey) error {
	js, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(st.dir, "keys", k.KeyID+".json"), js, 0o600)
}

func (st *kmsStore) saveAliases() error {
	js, err := json.Marshal(st.aliases)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(st.dir, "aliases.json"), js, 0o600)
}

// resolve finds a key by id, key ARN, alias name or alias ARN (caller holds mu).
func (st *kmsStore) resolve(id string) (*kmsKey, *kmsErr) {
	if id == "" {
		return nil, &kmsErr{400, "ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"}
	}
	arnPrefix := "arn:aws:kms:" + st.region + ":" + kmsAccount + ":"
	name := id
	if strings.HasPrefix(id, "arn:") {
		if !strings.HasPrefix(id, arnPrefix) {
			return nil, &kmsErr{400, "NotFoundException", "Invalid arn " + id}
		}
		name = id[len(arnPrefix):]
	}
	if strings.HasPrefix(name, "alias/") {
		kid, ok := st.aliases[name]
		if !ok {
			return nil, &kmsErr{400, "NotFoundException", "Alias " + st.aliasArn(name) + " is not found."}
		}
		return st.keys[kid], nil
	}
	name = strings.TrimPrefix(name, "key/")
	if !uuidRE.MatchString(name) || (strings.HasPrefix(id, "arn:") && !strings.Contains(id, ":key/")) {
		return nil, &kmsErr{400, "NotFoundException", "Invalid keyId '" + id + "'"}
	}
	k := st.keys[name]
	if k == nil {
		return nil, &kmsErr{400, "NotFoundException", "Key '" + st.keyArn(name) + "' does not exist"}
	}
	return k, nil
}

func kmsError(w http.ResponseWriter, status int, code, msg string) {
	if rec, ok := w.(*recorder); ok {
		rec.errCode = code
	}
	js, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", code)
	w.WriteHeader(status)
	w.Write(js)
}

func kmsReply(w http.ResponseWriter, v interface{}) {
	js, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(200)
	w.Write(js)
}

func (s *server) serveKMS(w *recorder, r *http.Request, op string) {
	w.Header().Set("x-amzn-RequestId", uuid4())
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		kmsError(w, 400, "SerializationException", "cannot read the request body")
		return
	}
	if len(body) > 1<<20 {
		kmsError(w, 413, "RequestEntityTooLarge", "request body too large")
		return
	}
	rawPath, rawQuery := rawPathQuery(r)
	params, err := parseQuery(rawQuery)
	if err != nil || rawPath != "/" {
		kmsError(w, 404, "UnknownOperationException", "KMS is served at POST /")
		return
	}
	if _, aerr := s.verify.verify(r, "kms", params, body); aerr != nil {
		kmsError(w, aerr.status, aerr.code, aerr.message)
		return
	}
	if f := s.faults.take(op); f != nil && s.applyFault(w, r, f, strings.NewReader(""), true) {
		return
	}
	handlers := map[string]func([]byte) (interface{}, *kmsErr){
		"CreateKey": s.kmsCreateKey, "DescribeKey": s.kmsDescribeKey, "ListKeys": s.kmsListKeys,
		"CreateAlias": s.kmsCreateAlias, "UpdateAlias": s.kmsUpdateAlias, "DeleteAlias": s.kmsDeleteAlias,
		"ListAliases": s.kmsListAliases, "PutKeyPolicy": s.kmsPutKeyPolicy, "GetKeyPolicy": s.kmsGetKeyPolicy,
		"ListKeyPolicies": s.kmsListKeyPolicies, "ListResourceTags": s.kmsListResourceTags,
		"GenerateDataKey":                 func(b []byte) (interface{}, *kmsErr) { return s.kmsGenerateDataKey(b, true) },
		"GenerateDataKeyWithoutPlaintext": func(b []byte) (interface{}, *kmsErr) { return s.kmsGenerateDataKey(b, false) },
		"Encrypt":                         s.kmsEncrypt, "Decrypt": s.kmsDecrypt, "GenerateRandom": s.kmsGenerateRandom,
	}
	h := handlers[op]
	if h == nil {
		kmsError(w, 400, "UnknownOperationException", "this peer does not implement "+op)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.1") {
		kmsError(w, 400, "SerializationException", "Content-Type must be application/x-amz-json-1.1, got "+ct)
		return
	}
	out, kerr := h(body)
	if kerr != nil {
		kmsError(w, kerr.status, kerr.code, kerr.msg)
		return
	}
	kmsReply(w, out)
}

func uuid4() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func decodeReq(body []byte, v interface{}) *kmsErr {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &kmsErr{400, "SerializationException", "Start of structure or map found where not expected, or bad JSON: " + err.Error()}
	}
	return nil
}

func (s *server) keyMetadata(k *kmsKey) map[string]interface{} {
	return map[string]interface{}{
		"AWSAccountId": kmsAccount, "KeyId": k.KeyID, "Arn": s.kms.keyArn(k.KeyID),
		"CreationDate": float64(k.Created.UnixNano()/1e6) / 1e3, "Enabled": true, "Description": k.Description,
		"KeyUsage": k.KeyUsage, "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
		"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
		"EncryptionAlgorithms": []string{"SYMMETRIC_DEFAULT"}, "MultiRegion": false,
	}
}

func defaultPolicy() string {
	return `{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` +
		kmsAccount + `:root"},"Action":"kms:*","Resource":"*"}]}`
}

func (s *server) kmsCreateKey(body []byte) (interface{}, *kmsErr) {
	var req struct {
		Description, KeyUsage, KeySpec, CustomerMasterKeySpec, Policy, Origin string
		Tags                                                                  []kmsTag
	}
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	if req.KeyUsage != "" && req.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, &kmsErr{400, "ValidationException", "this peer only makes ENCRYPT_DECRYPT keys"}
	}
	for _, spec := range []string{req.KeySpec, req.CustomerMasterKeySpec} {
		if spec != "" && spec != "SYMMETRIC_DEFAULT" {
			return nil, &kmsErr{400, "ValidationException", "this peer only makes SYMMETRIC_DEFAULT keys"}
		}
	}
	if req.Origin != "" && req.Origin != "AWS_KMS" {
		return nil, &kmsErr{400, "UnsupportedOperationException", "this peer only supports Origin AWS_KMS"}
	}
	if len(req.Description) > 8192 {
		return nil, &kmsErr{400, "ValidationException", "Description is longer than 8192"}
	}
	for _, t := range req.Tags {
		if t.TagKey == "" {
			return nil, &kmsErr{400, "TagException", "TagKey must not be empty"}
		}
	}
	policy := req.Policy
	if policy == "" {
		policy = defaultPolicy()
	} else if !json.Valid([]byte(policy)) {
		return nil, &kmsErr{400, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future."}
	}
	k := &kmsKey{KeyID: uuid4(), Created: time.Now().UTC(), Description: req.Description, KeyUsage: "ENCRYPT_DECRYPT",
		Tags: req.Tags, Policies: map[string]string{"default": policy}, Material: make([]byte, 32)}
	if k.Tags == nil {
		k.Tags = []kmsTag{}
	}
	rand.Read(k.Material)
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	if err := s.kms.saveKey(k); err != nil {
		return nil, &kmsErr{500, "KMSInternalException", err.Error()}
	}
	s.kms.keys[k.KeyID] = k
	return map[string]interface{}{"KeyMetadata": s.keyMetadata(k)}, nil
}

func (s *server) kmsDescribeKey(body []byte) (interface{}, *kmsErr) {
	var req struct{ KeyId string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	k, e := s.kms.resolve(req.KeyId)
	if e != nil {
		return nil, e
	}
	return map[string]interface{}{"KeyMetadata": s.keyMetadata(k)}, nil
}

func (s *server) kmsListKeys(body []byte) (interface{}, *kmsErr) {
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	ids := make([]string, 0, len(s.kms.keys))
	for id := range s.kms.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	keys := make([]map[string]string, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, map[string]string{"KeyId": id, "KeyArn": s.kms.keyArn(id)})
	}
	return map[string]interface{}{"Keys": keys, "Truncated": false}, nil
}

var aliasRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

// targetKey resolves a TargetKeyId: a key id or key ARN, never an alias.
func (s *server) targetKey(id string) (*kmsKey, *kmsErr) {
	if strings.Contains(id, "alias/") {
		return nil, &kmsErr{400, "ValidationException", "Aliases must refer to keys. Not aliases"}
	}
	return s.kms.resolve(id)
}

func (s *server) kmsCreateAlias(body []byte) (interface{}, *kmsErr) {
	var req struct{ AliasName, TargetKeyId string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	if !aliasRE.MatchString(req.AliasName) || len(req.AliasName) > 256 {
		return nil, &kmsErr{400, "ValidationException", "1 validation error detected: Value '" + req.AliasName + "' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"}
	}
	if strings.HasPrefix(req.AliasName, "alias/aws/") {
		return nil, &kmsErr{400, "NotAuthorizedException", "Cannot create alias with prefix 'alias/aws/'"}
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	k, e := s.targetKey(req.TargetKeyId)
	if e != nil {
		return nil, e
	}
	if _, ok := s.kms.aliases[req.AliasName]; ok {
		return nil, &kmsErr{400, "AlreadyExistsException", "An alias with the name " + s.kms.aliasArn(req.AliasName) + " already exists"}
	}
	s.kms.aliases[req.AliasName] = k.KeyID
	if err := s.kms.saveAliases(); err != nil {
		delete(s.kms.aliases, req.AliasName)
		return nil, &kmsErr{500, "KMSInternalException", err.Error()}
	}
	return struct{}{}, nil
}

func (s *server) kmsUpdateAlias(body []byte) (interface{}, *kmsErr) {
	var req struct{ AliasName, TargetKeyId string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	if _, ok := s.kms.aliases[req.AliasName]; !ok {
		return nil, &kmsErr{400, "NotFoundException", "Alias " + s.kms.aliasArn(req.AliasName) + " is not found."}
	}
	k, e := s.targetKey(req.TargetKeyId)
	if e != nil {
		return nil, e
	}
	s.kms.aliases[req.AliasName] = k.KeyID
	if err := s.kms.saveAliases(); err != nil {
		return nil, &kmsErr{500, "KMSInternalException", err.Error()}
	}
	return struct{}{}, nil
}

func (s *server) kmsDeleteAlias(body []byte) (interface{}, *kmsErr) {
	var req struct{ AliasName string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	if _, ok := s.kms.aliases[req.AliasName]; !ok {
		return nil, &kmsErr{400, "NotFoundException", "Alias " + s.kms.aliasArn(req.AliasName) + " is not found."}
	}
	delete(s.kms.aliases, req.AliasName)
	if err := s.kms.saveAliases(); err != nil {
		return nil, &kmsErr{500, "KMSInternalException", err.Error()}
	}
	return struct{}{}, nil
}

func (s *server) kmsListAliases(body []byte) (interface{}, *kmsErr) {
	var req struct{ KeyId string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	filter := ""
	if req.KeyId != "" {
		k, e := s.targetKey(req.KeyId)
		if e != nil {
			return nil, e
		}
		filter = k.KeyID
	}
	names := make([]string, 0, len(s.kms.aliases))
	for n, kid := range s.kms.aliases {
		if filter == "" || kid == filter {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]map[string]string, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]string{"AliasName": n, "AliasArn": s.kms.aliasArn(n), "TargetKeyId": s.kms.aliases[n]})
	}
	return map[string]interface{}{"Aliases": out, "Truncated": false}, nil
}

func (s *server) kmsPutKeyPolicy(body []byte) (interface{}, *kmsErr) {
	var req struct{ KeyId, PolicyName, Policy string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	if req.PolicyName == "" {
		req.PolicyName = "default" // optional since 2024; older clients always send it
	}
	if req.PolicyName != "default" {
		return nil, &kmsErr{400, "ValidationException", "1 validation error detected: Value '" + req.PolicyName + "' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: default"}
	}
	if !json.Valid([]byte(req.Policy)) {
		return nil, &kmsErr{400, "MalformedPolicyDocumentException", "The policy is not valid JSON"}
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	k, e := s.kms.resolve(req.KeyId)
	if e != nil {
		return nil, e
	}
	if strings.HasPrefix(req.KeyId, "alias/") || strings.Contains(req.KeyId, ":alias/") {
		return nil, &kmsErr{400, "NotFoundException", "Invalid keyId " + req.KeyId}
	}
	old := k.Policies["default"]
	k.Policies["default"] = req.Policy
	if err := s.kms.saveKey(k); err != nil {
		k.Policies["default"] = old
		return nil, &kmsErr{500, "KMSInternalException", err.Error()}
	}
	return struct{}{}, nil
}

func (s *server) kmsGetKeyPolicy(body []byte) (interface{}, *kmsErr) {
	var req struct{ KeyId, PolicyName string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	if req.PolicyName == "" {
		req.PolicyName = "default"
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	k, e := s.kms.resolve(req.KeyId)
	if e != nil {
		return nil, e
	}
	p, ok := k.Policies[req.PolicyName]
	if !ok {
		return nil, &kmsErr{400, "NotFoundException", "No such policy exists"}
	}
	return map[string]string{"Policy": p, "PolicyName": req.PolicyName}, nil
}

func (s *server) kmsListKeyPolicies(body []byte) (interface{}, *kmsErr) {
	var req struct{ KeyId string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	if _, e := s.kms.resolve(req.KeyId); e != nil {
		return nil, e
	}
	return map[string]interface{}{"PolicyNames": []string{"default"}, "Truncated": false}, nil
}

func (s *server) kmsListResourceTags(body []byte) (interface{}, *kmsErr) {
	var req struct{ KeyId string }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	k, e := s.targetKey(req.KeyId)
	if e != nil {
		return nil, e
	}
	return map[string]interface{}{"Tags": k.Tags, "Truncated": false}, nil
}

// ---- cryptography ----------------------------------------------------------------------------

func contextAAD(keyID string, ctx map[string]string) []byte {
	js, _ := json.Marshal(ctx) // encoding/json sorts map keys: canonical
	if len(ctx) == 0 {
		js = []byte("{}")
	}
	return append([]byte("aws-peer-kms-v1\x00"+keyID+"\x00"), js...)
}

func sealBlob(k *kmsKey, plaintext []byte, ctx map[string]string) ([]byte, error) {
	block, err := aes.NewCipher(k.Material)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	out := append([]byte{1}, k.KeyID...)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return gcm.Seal(out, nonce, plaintext, contextAAD(k.KeyID, ctx)), nil
}

var errCiphertext = &kmsErr{400, "InvalidCiphertextException", ""}

// openBlob returns the key named in the blob and the plaintext (caller holds kms.mu).
func (s *server) openBlob(blob []byte, ctx map[string]string) (*kmsKey, []byte, *kmsErr) {
	if len(blob) < 1+36+12+16 || blob[0] != 1 {
		return nil, nil, errCiphertext
	}
	k := s.kms.keys[string(blob[1:37])]
	if k == nil {
		return nil, nil, errCiphertext
	}
	block, _ := aes.NewCipher(k.Material)
	gcm, _ := cipher.NewGCM(block)
	pt, err := gcm.Open(nil, blob[37:49], blob[49:], contextAAD(k.KeyID, ctx))
	if err != nil {
		return k, nil, errCiphertext
	}
	return k, pt, nil
}

func (s *server) kmsGenerateDataKey(body []byte, withPlaintext bool) (interface{}, *kmsErr) {
	var req struct {
		KeyId             string
		KeySpec           string
		NumberOfBytes     *int
		EncryptionContext map[string]string
	}
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	n := 0
	switch {
	case req.KeySpec != "" && req.NumberOfBytes != nil:
		return nil, &kmsErr{400, "ValidationException", "Please specify either number of bytes or key spec."}
	case req.KeySpec == "AES_256":
		n = 32
	case req.KeySpec == "AES_128":
		n = 16
	case req.KeySpec != "":
		return nil, &kmsErr{400, "ValidationException", "1 validation error detected: Value '" + req.KeySpec + "' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"}
	case req.NumberOfBytes != nil:
		n = *req.NumberOfBytes
		if n < 1 || n > 1024 {
			return nil, &kmsErr{400, "ValidationException", "1 validation error detected: Value at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"}
		}
	default:
		return nil, &kmsErr{400, "ValidationException", "Please specify either number of bytes or key spec."}
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	k, e := s.kms.resolve(req.KeyId)
	if e != nil {
		return nil, e
	}
	pt := make([]byte, n)
	rand.Read(pt)
	blob, err := sealBlob(k, pt, req.EncryptionContext)
	if err != nil {
		return nil, &kmsErr{500, "KMSInternalException", err.Error()}
	}
	out := map[string]interface{}{"CiphertextBlob": blob, "KeyId": s.kms.keyArn(k.KeyID)}
	if withPlaintext {
		out["Plaintext"] = pt // []byte marshals as base64
	}
	return out, nil
}

func (s *server) kmsEncrypt(body []byte) (interface{}, *kmsErr) {
	var req struct {
		KeyId               string
		Plaintext           []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
	}
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	if len(req.Plaintext) < 1 || len(req.Plaintext) > 4096 {
		return nil, &kmsErr{400, "ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"}
	}
	if req.EncryptionAlgorithm != "" && req.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		return nil, &kmsErr{400, "InvalidKeyUsageException", "the algorithm " + req.EncryptionAlgorithm + " is not valid for this key"}
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	k, e := s.kms.resolve(req.KeyId)
	if e != nil {
		return nil, e
	}
	blob, err := sealBlob(k, req.Plaintext, req.EncryptionContext)
	if err != nil {
		return nil, &kmsErr{500, "KMSInternalException", err.Error()}
	}
	return map[string]interface{}{"CiphertextBlob": blob, "KeyId": s.kms.keyArn(k.KeyID), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func (s *server) kmsDecrypt(body []byte) (interface{}, *kmsErr) {
	var req struct {
		KeyId               string
		CiphertextBlob      []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
	}
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	if len(req.CiphertextBlob) == 0 {
		return nil, &kmsErr{400, "ValidationException", "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null"}
	}
	s.kms.mu.Lock()
	defer s.kms.mu.Unlock()
	var want *kmsKey
	if req.KeyId != "" {
		k, e := s.kms.resolve(req.KeyId)
		if e != nil {
			return nil, e
		}
		want = k
	}
	k, pt, e := s.openBlob(req.CiphertextBlob, req.EncryptionContext)
	if want != nil && k != nil && k.KeyID != want.KeyID {
		return nil, &kmsErr{400, "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation."}
	}
	if e != nil {
		return nil, e
	}
	return map[string]interface{}{"Plaintext": pt, "KeyId": s.kms.keyArn(k.KeyID), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func (s *server) kmsGenerateRandom(body []byte) (interface{}, *kmsErr) {
	var req struct{ NumberOfBytes int }
	if e := decodeReq(body, &req); e != nil {
		return nil, e
	}
	if req.NumberOfBytes < 1 || req.NumberOfBytes > 1024 {
		return nil, &kmsErr{400, "ValidationException", "NumberOfBytes must be between 1 and 1024"}
	}
	b := make([]byte, req.NumberOfBytes)
	rand.Read(b)
	return map[string]interface{}{"Plaintext": b}, nil
}
