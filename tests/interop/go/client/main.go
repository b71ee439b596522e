// Command client checks a Workload API endpoint with go-spiffe: X.509 and JWT SVIDs and
// bundles, ValidateJWTSVID, and one X.509 rotation seen on a watch. Exit status 0 when every
// check passes; each check prints one line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

var failures int

func check(name string, err error) {
	if err != nil {
		failures++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	fmt.Printf("ok   %s\n", name)
}

func main() {
	addr := flag.String("addr", os.Getenv("SPIFFE_ENDPOINT_SOCKET"), "Workload API address")
	wantID := flag.String("id", "", "SPIFFE ID of the default SVID")
	audience := flag.String("audience", "interop-go", "JWT audience")
	rotation := flag.Duration("rotation-timeout", 30*time.Second, "bound on waiting for a rotation")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(*addr))
	if err != nil {
		fmt.Printf("FAIL connect: %v\n", err)
		os.Exit(1)
	}
	defer client.Close()

	id, err := spiffeid.FromString(*wantID)
	if err != nil {
		fmt.Printf("FAIL -id: %v\n", err)
		os.Exit(2)
	}
	td := id.TrustDomain()

	x509ctx, err := client.FetchX509Context(ctx)
	check("fetch X.509 context", err)
	if err == nil {
		check("default X.509-SVID verifies against the bundle", verifyDefault(x509ctx, id))
	}

	bundles, err := client.FetchX509Bundles(ctx)
	check("fetch X.509 bundles", err)
	if err == nil {
		if b, ok := bundles.Get(td); !ok || len(b.X509Authorities()) == 0 {
			check("X.509 bundle of "+td.String(), errors.New("missing or empty"))
		} else {
			check("X.509 bundle of "+td.String(), nil)
		}
	}

	svid, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: *audience})
	check("fetch JWT-SVID", err)
	jwtBundles, err2 := client.FetchJWTBundles(ctx)
	check("fetch JWT bundles", err2)
	if err == nil && err2 == nil {
		check("JWT-SVID validates locally", validateLocally(svid, jwtBundles, id, *audience))
		check("JWT-SVID validates through the agent", validateRemote(ctx, client, svid, id, *audience))
		_, err := client.ValidateJWTSVID(ctx, svid.Marshal(), *audience+"-other")
		if err == nil {
			check("agent refuses a foreign audience", errors.New("accepted"))
		} else {
			check("agent refuses a foreign audience", nil)
		}
	}

	check("X.509 rotation seen on a watch", watchRotation(ctx, client, *rotation))

	if failures > 0 {
		fmt.Printf("%d check(s) failed\n", failures)
		os.Exit(1)
	}
	fmt.Println("all checks passed")
}

func verifyDefault(x509ctx *workloadapi.X509Context, id spiffeid.ID) error {
	svid := x509ctx.DefaultSVID()
	if svid == nil {
		return errors.New("no SVID")
	}
	if svid.ID != id {
		return fmt.Errorf("default SVID is %s, want %s", svid.ID, id)
	}
	got, _, err := x509svid.Verify(svid.Certificates, x509ctx.Bundles)
	if err != nil {
		return err
	}
	if got != id {
		return fmt.Errorf("verified %s, want %s", got, id)
	}
	return nil
}

func validateLocally(svid *jwtsvid.SVID, bundles *jwtbundle.Set, id spiffeid.ID, aud string) error {
	if svid.ID != id {
		return fmt.Errorf("JWT-SVID is for %s, want %s", svid.ID, id)
	}
	got, err := jwtsvid.ParseAndValidate(svid.Marshal(), bundles, []string{aud})
	if err != nil {
		return err
	}
	if got.ID != id {
		return fmt.Errorf("validated %s, want %s", got.ID, id)
	}
	if _, err := jwtsvid.ParseAndValidate(svid.Marshal(), bundles, []string{aud + "-other"}); err == nil {
		return errors.New("a foreign audience was accepted")
	}
	return nil
}

func validateRemote(ctx context.Context, c *workloadapi.Client, svid *jwtsvid.SVID, id spiffeid.ID, aud string) error {
	got, err := c.ValidateJWTSVID(ctx, svid.Marshal(), aud)
	if err != nil {
		return err
	}
	if got.ID != id {
		return fmt.Errorf("agent says %s, want %s", got.ID, id)
	}
	return nil
}

// watcher records the serial number of every default SVID it is given.
type watcher struct {
	serials chan string
}

func (w watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	if svid := c.DefaultSVID(); svid != nil {
		select {
		case w.serials <- svid.Certificates[0].SerialNumber.String():
		default:
		}
	}
}

func (w watcher) OnX509ContextWatchError(err error) {
	fmt.Printf("     watch error: %v\n", err)
}

func watchRotation(ctx context.Context, c *workloadapi.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := watcher{serials: make(chan string, 16)}
	done := make(chan error, 1)
	go func() { done <- c.WatchX509Context(ctx, w) }()

	var first string
	for {
		select {
		case serial := <-w.serials:
			if first == "" {
				first = serial
			} else if serial != first {
				cancel()
				<-done
				return nil
			}
		case <-ctx.Done():
			<-done
			if first == "" {
				return errors.New("no update within the timeout")
			}
			return fmt.Errorf("serial %s did not change within %s", first, timeout)
		}
	}
}
