#!/usr/bin/env python3
"""A stand-in for the AWS CLI, for the node simulations (deployment/tests/bootstrap-simulation.sh and
fleet-simulation.sh). It answers only the calls the node scripts (deployment/aws, and the user data in
Cafe_template.yaml) make, from a JSON state file shared by every simulated instance, and records every call.
Calls are serialized by a lock on the state file, as AWS serializes them: of two instances attaching one
volume, exactly one succeeds.

Environment: FAKE_AWS_STATE (state file), FAKE_AWS_LOG (call log), FAKE_AWS_BYID (directory standing in for
/dev/disk/by-id), FAKE_AWS_RELEASE (the tarball that `aws s3 cp` hands out).

State: {"volumes": {ID: {"VolumeId", "AvailabilityZone", "State", "Tags", "Attachments", "loop"}},
"instances": {ID: {"state": "running", "lifecycle": "InService", "group": NAME}} (or just a state string),
"secrets": {ARN-or-name: "..."}, "secret": "..." (any other secret), "parameters": {NAME: VALUE},
"signals": [], "heartbeats": [ID], "completed": {ID: RESULT}, "health": {ID: STATUS},
"metrics": [{"name", "value", "dimensions"}], "describe_calls": 0,
"events": [{"after_calls": N, "volume": ID, "state": "available"}]}
"""
import fcntl
import json
import os
import shutil
import sys

STATE = os.environ["FAKE_AWS_STATE"]
args = sys.argv[1:]
lock = open(STATE + ".lock", "a")
fcntl.flock(lock, fcntl.LOCK_EX)
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
with open(STATE) as f:
    st = json.load(f)


def save():
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f, indent=1)
    os.replace(tmp, STATE)


def opt(name):
    return args[args.index(name) + 1] if name in args else None


def values_after(name):
    if name not in args:
        return []
    out = []
    for a in args[args.index(name) + 1:]:
        if a.startswith("--"):
            break
        out.append(a)
    return out


def fail(msg, code=254):
    sys.stderr.write(f"An error occurred: {msg}\n")
    sys.exit(code)


def public(v):
    return {k: v[k] for k in v if k != "loop"}


def instance(iid):
    value = st.get("instances", {}).get(iid)
    if value is None:
        return None
    return value if isinstance(value, dict) else {"state": value, "lifecycle": "InService", "group": "cafe-NodeGroup"}


def by_id_link(vid):
    return os.path.join(os.environ["FAKE_AWS_BYID"], "nvme-Amazon_Elastic_Block_Store_" + vid.replace("-", ""))


svc, op = args[0], args[1]

if (svc, op) == ("ec2", "describe-volumes"):
    if "--volume-ids" in args:
        v = st["volumes"][opt("--volume-ids")]
        # The bootstrap only asks for the node-id tag this way (--output text).
        print(next((t["Value"] for t in v["Tags"] if t["Key"] == "rananeeti:node-id"), "None"))
        sys.exit(0)
    st["describe_calls"] = st.get("describe_calls", 0) + 1
    for ev in st.get("events", []):
        if ev["after_calls"] == st["describe_calls"]:
            vol = st["volumes"][ev["volume"]]
            vol["State"] = ev["state"]
            if ev["state"] == "available":
                vol["Attachments"] = []
    wanted = {}
    for f in values_after("--filters"):
        name, values = f.split(",", 1)
        wanted[name.split("=", 1)[1]] = values.split("=", 1)[1]
    result = []
    for v in st["volumes"].values():
        tags = {t["Key"]: t["Value"] for t in v["Tags"]}
        ok = True
        for k, want in wanted.items():
            if k.startswith("tag:"):
                ok &= tags.get(k[4:]) == want
            elif k == "tag-key":
                ok &= want in tags
            elif k == "availability-zone":
                ok &= v["AvailabilityZone"] == want
            else:
                fail(f"fake-aws: unknown filter {k}")
        if ok:
            result.append(public(v))
    save()
    print(json.dumps({"Volumes": result}))

elif (svc, op) == ("ec2", "describe-instances"):
    i = instance(opt("--instance-ids"))
    if i is None:
        fail(f"InvalidInstanceID.NotFound: {opt('--instance-ids')}")
    print(i["state"])

elif (svc, op) == ("autoscaling", "describe-auto-scaling-instances"):
    i = instance(opt("--instance-ids"))
    query = opt("--query") or ""
    if i is None or i["state"] in ("terminated", "shutting-down") and i.get("lifecycle") is None:
        print("None")
    elif "LifecycleState" in query:
        print(i.get("lifecycle", "InService"))
    else:
        print(i.get("group", "cafe-NodeGroup"))

elif (svc, op) == ("autoscaling", "record-lifecycle-action-heartbeat"):
    st.setdefault("heartbeats", []).append(opt("--instance-id"))
    save()

elif (svc, op) == ("autoscaling", "complete-lifecycle-action"):
    iid = opt("--instance-id")
    st.setdefault("completed", {})[iid] = opt("--lifecycle-action-result")
    # The instance terminates: its volumes are detached, as EC2 does.
    if isinstance(st["instances"].get(iid), dict):
        st["instances"][iid].update(state="terminated", lifecycle="Terminated")
    else:
        st["instances"][iid] = "terminated"
    for vid, v in st["volumes"].items():
        if any(a["InstanceId"] == iid for a in v["Attachments"]):
            v["State"], v["Attachments"] = "available", []
            if os.path.lexists(by_id_link(vid)):
                os.unlink(by_id_link(vid))
    save()

elif (svc, op) == ("autoscaling", "set-instance-health"):
    st.setdefault("health", {})[opt("--instance-id")] = opt("--health-status")
    save()

elif (svc, op) == ("ec2", "attach-volume"):
    vid, iid = opt("--volume-id"), opt("--instance-id")
    v = st["volumes"][vid]
    if v["State"] != "available":
        fail(f"VolumeInUse: {vid} is already attached")
    v["State"] = "in-use"
    v["Attachments"] = [{"InstanceId": iid, "State": "attached", "Device": opt("--device")}]
    if os.path.lexists(by_id_link(vid)):
        os.unlink(by_id_link(vid))
    os.symlink(v["loop"], by_id_link(vid))
    save()
    print(json.dumps({"VolumeId": vid, "State": "attaching"}))

elif (svc, op) == ("ec2", "detach-volume"):
    vid = opt("--volume-id")
    v = st["volumes"][vid]
    v["State"], v["Attachments"] = "available", []
    if os.path.lexists(by_id_link(vid)):
        os.unlink(by_id_link(vid))
    save()
    print(json.dumps({"VolumeId": vid, "State": "detaching"}))

elif (svc, op) == ("ec2", "wait"):
    pass

elif (svc, op) == ("ec2", "create-tags"):
    for vid in values_after("--resources"):
        v = st["volumes"][vid]
        for t in values_after("--tags"):
            key, value = t.split(",", 1)
            key, value = key.split("=", 1)[1], value.split("=", 1)[1]
            v["Tags"] = [x for x in v["Tags"] if x["Key"] != key] + [{"Key": key, "Value": value}]
    save()

elif (svc, op) == ("cloudwatch", "put-metric-data"):
    for datum in values_after("--metric-data"):
        fields = dict(part.split("=", 1) for part in datum.split(",", 3) if "=" in part)
        st.setdefault("metrics", []).append(
            {"namespace": opt("--namespace"), "name": fields.get("MetricName"), "value": float(fields.get("Value", "nan")),
             "dimensions": datum.split("Dimensions=", 1)[-1]})
    save()

elif (svc, op) == ("cloudformation", "signal-resource"):
    st.setdefault("signals", []).append(opt("--status"))
    save()

elif (svc, op) == ("s3", "cp"):
    shutil.copy(os.environ["FAKE_AWS_RELEASE"], args[-1])

elif (svc, op) == ("secretsmanager", "get-secret-value"):
    sid = opt("--secret-id")
    if sid not in st.get("secrets", {}) and "secret" not in st:
        fail(f"ResourceNotFoundException: Secrets Manager can't find the specified secret {sid}")
    print(st.get("secrets", {}).get(sid, st.get("secret")))

elif (svc, op) == ("ssm", "get-parameter"):
    name = opt("--name")
    if name not in st.get("parameters", {}):
        fail(f"ParameterNotFound: {name}")
    print(st["parameters"][name])

else:
    fail(f"fake-aws: unexpected call: {' '.join(args)}", 2)
