#!/usr/bin/env python3
"""A booking run through the stack's GraphQL gateway, as a client would make it.

The demo patient holds and books --bookings distinct free slots of the demo doctor, one after
the other. After --kill-after bookings, --kill runs (the stack test kills a scheduling
replica's container). A call that fails for a reason that is not the client's (the connection,
a 5xx, an UNAVAILABLE or INTERNAL answer) is retried with the same request id, as the API
asks of clients; a retry must never make a second appointment. At the end, the patient's
appointments are read back: every booking is there once, BOOKED, at its own time.

Prints what it did and exits 1 if anything is wrong. Standard library only.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

RETRYABLE = {"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "CONTENTION", "ABORTED"}


def post(url, body, headers, timeout=15):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


def token(issuer, user):
    form = urllib.parse.urlencode(
        {"grant_type": "password", "client_id": "medmesh-web", "username": user, "password": user}
    ).encode()
    deadline = time.time() + 120
    while True:
        try:
            return post(f"{issuer}/protocol/openid-connect/token", form,
                        {"Content-Type": "application/x-www-form-urlencoded"})["access_token"]
        except (urllib.error.URLError, OSError, KeyError) as error:
            if time.time() > deadline:
                raise SystemExit(f"cannot sign in as {user}: {error}")
            time.sleep(2)


class Client:
    def __init__(self, url, bearer):
        self.url, self.bearer, self.retries = url, bearer, 0

    def call(self, query, variables=None, attempts=12):
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.bearer}"}
        pause = 0.25
        for attempt in range(1, attempts + 1):
            problem = None
            try:
                answer = post(self.url, body, headers)
                errors = answer.get("errors") or []
                codes = {(e.get("extensions") or {}).get("code") for e in errors}
                if not errors:
                    return answer["data"]
                if not codes & RETRYABLE:
                    raise SystemExit(f"refused: {json.dumps(errors)}")
                problem = ",".join(sorted(c for c in codes if c))
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    raise SystemExit(f"HTTP {error.code}: {error.read()[:300]!r}")
                problem = f"HTTP {error.code}"
            except (urllib.error.URLError, OSError) as error:
                problem = str(error)
            if attempt == attempts:
                raise SystemExit(f"gave up after {attempts} attempts: {problem}")
            self.retries += 1
            print(f"    retry {attempt} ({problem})", flush=True)
            time.sleep(pause)
            pause = min(pause * 2, 4)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--bookings", type=int, default=20)
    parser.add_argument("--kill-after", type=int, default=5)
    parser.add_argument("--kill", default="")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between bookings")
    args = parser.parse_args()

    patient = Client(args.gateway, token(args.issuer, "patient"))
    doctors = patient.call("{ doctors { doctors { id displayName } } }")["doctors"]["doctors"]
    if not doctors:
        raise SystemExit("no doctor is listed (the demo data is missing)")
    doctor = doctors[0]["id"]

    # Free slots from three days on, a week at a time, until there are enough.
    day = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    day += dt.timedelta(days=3)
    starts = []
    while len(starts) < args.bookings:
        page = patient.call(
            "query($d: ID!, $f: DateTime!, $t: DateTime!) { freeSlots(doctorId: $d, from: $f, to: $t) { slots { start } } }",
            {"d": doctor, "f": day.isoformat(), "t": (day + dt.timedelta(days=7)).isoformat()},
        )["freeSlots"]["slots"]
        # Every third slot: the run must not depend on neighbours being free.
        starts += [s["start"] for s in page[::3]]
        day += dt.timedelta(days=7)
        if day > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=120):
            raise SystemExit(f"only {len(starts)} free slots found")
    starts = starts[: args.bookings]

    run = uuid.uuid4().hex[:8]
    booked = {}
    began = time.time()
    for i, start in enumerate(starts):
        if i == args.kill_after and args.kill:
            print(f"    after {i} bookings: {args.kill}", flush=True)
            subprocess.run(args.kill, shell=True, check=True, stdout=subprocess.DEVNULL)
        hold = patient.call(
            "mutation($r: String!, $d: ID!, $s: DateTime!) { holdSlot(requestId: $r, doctorId: $d, start: $s) { id } }",
            {"r": f"stack-{run}-hold-{i}", "d": doctor, "s": start},
        )["holdSlot"]["id"]
        appointment = patient.call(
            "mutation($r: String!, $h: ID!) { bookAppointment(input: {requestId: $r, holdId: $h, reason: \"stack test\"}) { id status } }",
            {"r": f"stack-{run}-book-{i}", "h": hold},
        )["bookAppointment"]
        if appointment["status"] != "BOOKED" or appointment["id"] != hold:
            raise SystemExit(f"booking {i}: {appointment} (hold {hold})")
        booked[appointment["id"]] = start
        time.sleep(args.pause)
    took = time.time() - began
    print(f"    {len(booked)} bookings in {took:.1f} s, {patient.retries} retried calls", flush=True)

    # Read back: each once, booked, at its own start.
    seen = {}
    token_ = None
    while True:
        page = patient.call(
            "query($p: String) { appointments(pageSize: 100, pageToken: $p) { appointments { id status slot { start } } nextPageToken } }",
            {"p": token_},
        )["appointments"]
        for a in page["appointments"]:
            seen.setdefault(a["id"], []).append(a)
        token_ = page["nextPageToken"]
        if not token_:
            break
    problems = []
    for appointment_id, start in booked.items():
        rows = seen.get(appointment_id, [])
        if len(rows) != 1:
            problems.append(f"{appointment_id}: listed {len(rows)} times")
        elif rows[0]["status"] != "BOOKED":
            problems.append(f"{appointment_id}: {rows[0]['status']}")
    ours = [a[0] for a in seen.values() if a[0]["status"] == "BOOKED"]
    by_start = {}
    for a in ours:
        by_start.setdefault(a["slot"]["start"], []).append(a["id"])
    doubles = {s: ids for s, ids in by_start.items() if len(ids) > 1}
    if doubles:
        problems.append(f"two bookings at one time: {doubles}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"    read back: all {len(booked)} booked once, no time booked twice", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
