#!/usr/bin/env python3
"""A stand-in for the AWS CLI, for the node bootstrap simulation
(deployment/tests/bootstrap-simulation.sh). It answers only the calls the
bootstrap in Cafe_template.yaml makes, from a JSON state file, and records
every call. Environment: FAKE_AWS_STATE (state file), FAKE_AWS_LOG (call log),
FAKE_AWS_BYID (directory standing in for /dev/disk/by-id), FAKE_AWS_RELEASE
(the tarball that `aws s3 cp` hands out).

State: {"volumes": {ID: {"VolumeId", "AvailabilityZone", "State", "Tags",
"Attachments", "loop"}}, "instances": {ID: STATE}, "secret": "...",
"signals": [], "describe_calls": 0,
"events": [{"after_calls": N, "volume": ID, "state": "available"}]}
"""
import json
import os
import shutil
import sys

STATE = os.environ["FAKE_AWS_STATE"]
args = sys.argv[1:]
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
with open(STATE) as f:
    st = json.load(f)


def save():
    with open(STATE, "w") as f:
        json.dump(st, f, indent=1)


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
    iid = opt("--instance-ids")
    if iid not in st["instances"]:
        fail(f"InvalidInstanceID.NotFound: {iid}")
    print(st["instances"][iid])

elif (svc, op) == ("ec2", "attach-volume"):
    vid, iid = opt("--volume-id"), opt("--instance-id")
    v = st["volumes"][vid]
    if v["State"] != "available":
        fail(f"VolumeInUse: {vid} is already attached")
    v["State"] = "in-use"
    v["Attachments"] = [{"InstanceId": iid, "State": "attached", "Device": opt("--device")}]
    link = os.path.join(os.environ["FAKE_AWS_BYID"], "nvme-Amazon_Elastic_Block_Store_" + vid.replace("-", ""))
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(v["loop"], link)
    save()
    print(json.dumps({"VolumeId": vid, "State": "attaching"}))

elif (svc, op) == ("ec2", "wait"):
    pass

elif (svc, op) == ("ec2", "create-tags"):
    v = st["volumes"][opt("--resources")]
    for t in values_after("--tags"):
        key, value = t.split(",", 1)
        key, value = key.split("=", 1)[1], value.split("=", 1)[1]
        v["Tags"] = [x for x in v["Tags"] if x["Key"] != key] + [{"Key": key, "Value": value}]
    save()

elif (svc, op) == ("cloudformation", "signal-resource"):
    st.setdefault("signals", []).append(opt("--status"))
    save()

elif (svc, op) == ("s3", "cp"):
    shutil.copy(os.environ["FAKE_AWS_RELEASE"], args[-1])

elif (svc, op) == ("secretsmanager", "get-secret-value"):
    print(st["secret"])

else:
    fail(f"fake-aws: unexpected call: {' '.join(args)}", 2)
