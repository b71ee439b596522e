// Command vectors runs the differential vectors through go-spiffe and prints its verdicts as
// JSON: SPIFFE IDs from a TSV file, X.509-SVIDs from PEM files, and JWT-SVID cases that it
// generates (tokens signed here, with their JWKS and audience). The Rust side runs the same
// inputs through our crates and compares (tests/interop/tests/vectors.rs).
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

type verdict struct {
	Accept bool   `json:"accept"`
	Error  string `json:"error,omitempty"`
}

type idCase struct {
	Input string `json:"input"`
	verdict
}

type x509Case struct {
	Name  string `json:"name"`
	Certs string `json:"certs"`
	Key   string `json:"key"`
	verdict
}

type jwtCase struct {
	Name     string   `json:"name"`
	Token    string   `json:"token"`
	Jwks     string   `json:"jwks"`
	Audience []string `json:"audience"`
	verdict
}

type output struct {
	// GeneratedAt is when the JWT cases were signed (Unix seconds): their times are relative.
	GeneratedAt int64      `json:"generated_at"`
	SpiffeID    []idCase   `json:"spiffe_id"`
	X509Svid    []x509Case `json:"x509_svid"`
	JwtSvid     []jwtCase  `json:"jwt_svid"`
}

func of(err error) verdict {
	if err != nil {
		return verdict{Accept: false, Error: err.Error()}
	}
	return verdict{Accept: true}
}

func main() {
	ids := flag.String("ids", "", "SPIFFE ID vectors (TSV)")
	x509dir := flag.String("x509svid", "", "folder of go-spiffe X.509-SVID vectors")
	flag.Parse()

	var out output
	out.GeneratedAt = time.Now().Unix()
	out.SpiffeID = spiffeIDs(*ids)
	out.X509Svid = x509Svids(*x509dir)
	out.JwtSvid = jwtSvids()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func spiffeIDs(path string) []idCase {
	data, err := os.ReadFile(path)
	must(err)
	var cases []idCase
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		input := unescape(strings.SplitN(line, "\t", 2)[0])
		_, err := spiffeid.FromString(input)
		cases = append(cases, idCase{Input: input, verdict: of(err)})
	}
	return cases
}

func x509Svids(dir string) []x509Case {
	pairs := [][2]string{
		{"good-leaf-only.pem", "key-pkcs8-rsa.pem"},
		{"good-leaf-and-intermediate.pem", "key-pkcs8-ecdsa.pem"},
		{"good-cert-and-key.pem", "good-cert-and-key.pem"},
		{"wrong-leaf-ca-true.pem", "key-pkcs8-rsa.pem"},
		{"wrong-leaf-cert-sign.pem", "key-pkcs8-rsa.pem"},
		{"wrong-leaf-no-digital-signature.pem", "key-pkcs8-rsa.pem"},
		{"wrong-leaf-empty-id.pem", "key-pkcs8-rsa.pem"},
		{"wrong-intermediate-no-ca.pem", "key-pkcs8-rsa.pem"},
		{"corrupt-cert.pem", "key-pkcs8-rsa.pem"},
		{"not-pem", "key-pkcs8-rsa.pem"},
		// Key and certificate swapped, and a key that belongs to another certificate.
		{"key-pkcs8-rsa.pem", "good-leaf-only.pem"},
		{"good-leaf-only.pem", "key-pkcs8-ecdsa.pem"},
	}
	var cases []x509Case
	for _, p := range pairs {
		certs, err := os.ReadFile(filepath.Join(dir, p[0]))
		must(err)
		key, err := os.ReadFile(filepath.Join(dir, p[1]))
		must(err)
		_, err = x509svid.Parse(certs, key)
		cases = append(cases, x509Case{
			Name:    p[0] + " + " + p[1],
			Certs:   p[0],
			Key:     p[1],
			verdict: of(err),
		})
	}
	return cases
}

// ---- JWT-SVIDs ----

var b64 = base64.RawURLEncoding

type signer struct {
	kid string
	key crypto.Signer
}

func jwk(kid string, pub crypto.PublicKey) map[string]any {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		return map[string]any{
			"kty": "EC", "kid": kid, "crv": k.Curve.Params().Name,
			"x": b64.EncodeToString(k.X.FillBytes(make([]byte, size))),
			"y": b64.EncodeToString(k.Y.FillBytes(make([]byte, size))),
		}
	case *rsa.PublicKey:
		return map[string]any{
			"kty": "RSA", "kid": kid,
			"n": b64.EncodeToString(k.N.Bytes()),
			"e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		}
	}
	panic("unknown key type")
}

func jwks(keys ...map[string]any) string {
	data, err := json.Marshal(map[string]any{"keys": keys})
	must(err)
	return string(data)
}

// sign builds a compact JWS from raw header and claims JSON; alg picks the signature scheme
// (the header may say something else on purpose).
func sign(header, claims string, alg string, s signer) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch alg {
	case "ES256":
		var r, ss *big.Int
		r, ss, err = ecdsa.Sign(rand.Reader, s.key.(*ecdsa.PrivateKey), digest[:])
		sig = append(r.FillBytes(make([]byte, 32)), ss.FillBytes(make([]byte, 32))...)
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, s.key.(*rsa.PrivateKey), crypto.SHA256, digest[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "HS256":
		sig = digest[:]
	case "none":
		sig = nil
	}
	must(err)
	return input + "." + b64.EncodeToString(sig)
}

func jwtSvids() []jwtCase {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	ec := signer{"ec-1", ecKey}
	rs := signer{"rsa-1", rsaKey}
	weak := signer{"rsa-weak", weakKey}
	set := jwks(jwk(ec.kid, ecKey.Public()), jwk(rs.kid, rsaKey.Public()))
	weakSet := jwks(jwk(weak.kid, weakKey.Public()))

	now := time.Now().Unix()
	sub := `"sub":"spiffe://example.org/workload"`
	exp := fmt.Sprintf(`"exp":%d`, now+3600)
	good := "{" + sub + `,"aud":["interop"],` + exp + "}"
	hdr := func(alg, kid string) string {
		return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"}`, alg, kid)
	}
	claims := func(extra ...string) string {
		return "{" + strings.Join(extra, ",") + "}"
	}
	big := strings.Repeat("x", 17*1024)

	type spec struct {
		name, header, claims, alg string
		s                         signer
		jwks                      string
		aud                       []string
	}
	aud := []string{"interop"}
	specs := []spec{
		{"valid ES256", hdr("ES256", "ec-1"), good, "ES256", ec, set, aud},
		{"valid RS256", hdr("RS256", "rsa-1"), good, "RS256", rs, set, aud},
		{"valid PS256", hdr("PS256", "rsa-1"), good, "PS256", rs, set, aud},
		{"valid, typ JOSE", `{"alg":"ES256","kid":"ec-1","typ":"JOSE"}`, good, "ES256", ec, set, aud},
		{"valid, no typ", `{"alg":"ES256","kid":"ec-1"}`, good, "ES256", ec, set, aud},
		{"valid, aud a string", hdr("ES256", "ec-1"), claims(sub, `"aud":"interop"`, exp), "ES256", ec, set, aud},
		{"valid, one of several audiences", hdr("ES256", "ec-1"), claims(sub, `"aud":["a","interop","b"]`, exp), "ES256", ec, set, aud},
		{"valid, sub is the trust domain ID", hdr("ES256", "ec-1"), claims(`"sub":"spiffe://example.org"`, `"aud":["interop"]`, exp), "ES256", ec, set, aud},
		{"valid, exp 30 s ago (inside the leeway)", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, fmt.Sprintf(`"exp":%d`, now-30)), "ES256", ec, set, aud},
		{"valid, fractional exp", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, fmt.Sprintf(`"exp":%d.5`, now+3600)), "ES256", ec, set, aud},
		{"valid, nbf and iat in the past", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, exp, fmt.Sprintf(`"nbf":%d,"iat":%d`, now-10, now-10)), "ES256", ec, set, aud},
		{"alg none", `{"alg":"none","kid":"ec-1"}`, good, "none", ec, set, aud},
		{"alg HS256", hdr("HS256", "ec-1"), good, "HS256", ec, set, aud},
		{"missing kid", `{"alg":"ES256","typ":"JWT"}`, good, "ES256", ec, set, aud},
		{"unknown kid", hdr("ES256", "nope"), good, "ES256", ec, set, aud},
		{"typ at+jwt", `{"alg":"ES256","kid":"ec-1","typ":"at+jwt"}`, good, "ES256", ec, set, aud},
		{"crit header", `{"alg":"ES256","kid":"ec-1","crit":["exp"]}`, good, "ES256", ec, set, aud},
		{"expired an hour ago", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, fmt.Sprintf(`"exp":%d`, now-3600)), "ES256", ec, set, aud},
		{"nbf in an hour", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, exp, fmt.Sprintf(`"nbf":%d`, now+3600)), "ES256", ec, set, aud},
		{"iat in an hour", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, exp, fmt.Sprintf(`"iat":%d`, now+3600)), "ES256", ec, set, aud},
		{"audience mismatch", hdr("ES256", "ec-1"), good, "ES256", ec, set, []string{"elsewhere"}},
		{"missing aud", hdr("ES256", "ec-1"), claims(sub, exp), "ES256", ec, set, aud},
		{"missing exp", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`), "ES256", ec, set, aud},
		{"exp a string", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, fmt.Sprintf(`"exp":"%d"`, now+3600)), "ES256", ec, set, aud},
		{"missing sub", hdr("ES256", "ec-1"), claims(`"aud":["interop"]`, exp), "ES256", ec, set, aud},
		{"sub not a SPIFFE ID", hdr("ES256", "ec-1"), claims(`"sub":"https://example.org/w"`, `"aud":["interop"]`, exp), "ES256", ec, set, aud},
		{"sub with a trailing slash", hdr("ES256", "ec-1"), claims(`"sub":"spiffe://example.org/w/"`, `"aud":["interop"]`, exp), "ES256", ec, set, aud},
		{"sub in a trust domain without bundle", hdr("ES256", "ec-1"), claims(`"sub":"spiffe://other.org/w"`, `"aud":["interop"]`, exp), "ES256", ec, set, aud},
		{"signature does not verify", hdr("ES256", "ec-1"), good, "ES256", signer{"ec-1", otherKey}, set, aud},
		{"ES256 header on the RSA key", hdr("ES256", "rsa-1"), good, "ES256", ec, set, aud},
		{"RS256 header on the EC key", hdr("RS256", "ec-1"), good, "RS256", rs, set, aud},
		{"duplicate sub claim", hdr("ES256", "ec-1"), claims(`"sub":"spiffe://example.org/a"`, sub, `"aud":["interop"]`, exp), "ES256", ec, set, aud},
		{"duplicate alg header", `{"alg":"HS256","alg":"ES256","kid":"ec-1"}`, good, "ES256", ec, set, aud},
		{"token over 16 KiB", hdr("ES256", "ec-1"), claims(sub, `"aud":["interop"]`, exp, fmt.Sprintf(`"pad":%q`, big)), "ES256", ec, set, aud},
		{"RSA-1024 key", hdr("RS256", "rsa-weak"), good, "RS256", weak, weakSet, aud},
	}

	td := spiffeid.RequireTrustDomainFromString("example.org")
	var cases []jwtCase
	for _, s := range specs {
		token := sign(s.header, s.claims, s.alg, s.s)
		var err error
		bundle, err := jwtbundle.Parse(td, []byte(s.jwks))
		if err == nil {
			_, err = jwtsvid.ParseAndValidate(token, bundle, s.aud)
		}
		cases = append(cases, jwtCase{Name: s.name, Token: token, Jwks: s.jwks, Audience: s.aud, verdict: of(err)})
	}
	return cases
}
