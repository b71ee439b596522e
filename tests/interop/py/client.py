"""Checks a Workload API endpoint with py-spiffe.

X.509 and JWT SVIDs and bundles, ValidateJWTSVID, and one X.509 rotation seen on a watch.
Exit status 0 when every check passes; each check prints one line.
"""

import argparse
import queue
import sys

import grpc
from spiffe import JwtSvid, SpiffeId, WorkloadApiClient

failures = 0


def check(name, fn):
    global failures
    try:
        fn()
    except Exception as err:  # every failure is reported, none stops the run
        failures += 1
        print(f"FAIL {name}: {type(err).__name__}: {err}", flush=True)
        return
    print(f"ok   {name}", flush=True)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def verify_chain(chain, roots):
    """Each certificate is issued by the next; the last by one of the roots."""
    for child, parent in zip(chain, chain[1:]):
        child.verify_directly_issued_by(parent)
    last = chain[-1]
    for root in roots:
        try:
            last.verify_directly_issued_by(root)
            return
        except Exception:
            continue
    raise AssertionError("no root of the bundle issued the chain")


def use_localhost_authority():
    """Makes every gRPC channel of this process send `:authority: localhost`.

    grpcio (since 1.57) sends the percent-encoded socket path as `:authority` over a Unix
    socket; the Rust HTTP/2 stack (h2) under tonic refuses it as malformed. SPIRE (grpc-go)
    accepts it. py-spiffe offers no channel options, so the default is changed here; the
    difference is recorded in tests/interop/divergences.json and probed on every run.
    """
    plain = grpc.insecure_channel

    def channel(target, options=None, compression=None):
        options = list(options or []) + [("grpc.default_authority", "localhost")]
        return plain(target, options, compression)

    grpc.insecure_channel = channel


def probe(addr):
    """One fetch with py-spiffe as shipped; prints `accepted` or `refused: ...`."""
    client = WorkloadApiClient(socket_path=addr, default_timeout=10.0)
    try:
        client.fetch_x509_svid()
        print("accepted", flush=True)
    except Exception as err:
        print(f"refused: {err}", flush=True)
    finally:
        client.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--id")
    parser.add_argument("--audience", default="interop-py")
    parser.add_argument("--rotation-timeout", type=float, default=30.0)
    parser.add_argument("--probe-default-authority", action="store_true")
    parser.add_argument("--localhost-authority", action="store_true")
    args = parser.parse_args()

    if args.probe_default_authority:
        probe(args.addr)
        return
    if args.localhost_authority:
        use_localhost_authority()

    want = SpiffeId(args.id)
    td = want.trust_domain
    client = WorkloadApiClient(socket_path=args.addr, default_timeout=30.0)
    state = {}

    def x509_context():
        ctx = client.fetch_x509_context()
        svid = ctx.default_svid
        expect(svid.spiffe_id == want, f"default SVID is {svid.spiffe_id}, want {want}")
        bundle = ctx.x509_bundle_set.get_bundle_for_trust_domain(td)
        expect(bundle is not None, f"no bundle for {td}")
        verify_chain(svid.cert_chain, bundle.x509_authorities)
        state["serial"] = svid.leaf.serial_number

    def x509_bundles():
        bundles = client.fetch_x509_bundles()
        bundle = bundles.get_bundle_for_trust_domain(td)
        expect(bundle is not None and len(bundle.x509_authorities) > 0, f"no authorities for {td}")

    def jwt_svid():
        svid = client.fetch_jwt_svid(audience={args.audience})
        expect(svid.spiffe_id == want, f"JWT-SVID is for {svid.spiffe_id}, want {want}")
        expect(args.audience in svid.audience, f"audience {svid.audience}")
        state["token"] = svid.token

    def jwt_local():
        bundles = client.fetch_jwt_bundles()
        bundle = bundles.get_bundle_for_trust_domain(td)
        expect(bundle is not None, f"no JWT bundle for {td}")
        svid = JwtSvid.parse_and_validate(state["token"], bundle, {args.audience})
        expect(svid.spiffe_id == want, f"validated {svid.spiffe_id}")
        try:
            JwtSvid.parse_and_validate(state["token"], bundle, {args.audience + "-other"})
        except Exception:
            return
        raise AssertionError("a foreign audience was accepted")

    def jwt_remote():
        svid = client.validate_jwt_svid(state["token"], args.audience)
        expect(svid.spiffe_id == want, f"agent says {svid.spiffe_id}")
        try:
            client.validate_jwt_svid(state["token"], args.audience + "-other")
        except Exception:
            return
        raise AssertionError("the agent accepted a foreign audience")

    def rotation():
        serials = queue.Queue()
        errors = queue.Queue()
        handle = client.stream_x509_contexts(
            on_success=lambda ctx: serials.put(ctx.default_svid.leaf.serial_number),
            on_error=errors.put,
        )
        try:
            first = serials.get(timeout=args.rotation_timeout)
            while True:
                serial = serials.get(timeout=args.rotation_timeout)
                if serial != first:
                    return
        except queue.Empty:
            detail = "" if errors.empty() else f" (last error: {errors.get()})"
            raise AssertionError(f"no rotation within {args.rotation_timeout} s{detail}")
        finally:
            handle.cancel()

    check("fetch X.509 context; default SVID chains to the bundle", x509_context)
    check("fetch X.509 bundles", x509_bundles)
    check("fetch JWT-SVID", jwt_svid)
    if "token" in state:
        check("JWT-SVID validates locally against fetched JWT bundles", jwt_local)
        check("JWT-SVID validates through the agent; foreign audience refused", jwt_remote)
    check("X.509 rotation seen on a watch", rotation)
    client.close()

    if failures:
        print(f"{failures} check(s) failed", flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
