"""Stand-ins for the AWS CLI (`aws`) that the build image's scripts call: each records every
call (one JSON list per line in STUB_LOG) and answers from files or variables the caller sets.
Used where a script runs for real: the unit tests, the container tier, and the pipeline-run
simulator (tests/support/pipeline_run.py), which sets them from the state it keeps.
"""

# The change-set review and the release gate (build-image/review-change-set,
# build-image/release_gate.py): DescribeChangeSet pages from STUB_PAGES/<token>.json (the first is
# page-1), DescribeStacks from STUB_STACK (or `missing`, `denied`: that error), uploads copied under STUB_S3; GetTemplate of a change
# set from STUB_TEMPLATE (absent: the change set answers with an error, as an empty one may) and
# of the stack from STUB_STACK_TEMPLATE; the registry (images, their tags and manifests) in the
# JSON file STUB_REGISTRY, read and written; ListActionExecutions from STUB_ACTIONS; GetGroup
# from STUB_GROUP; release records, one JSON file per item, in the folder STUB_RECORDS (Query
# reads them too); GetPipelineExecution's status from the JSON object STUB_EXECUTIONS (execution
# id → status); StartPipelineExecution is only recorded.
REVIEW_AWS = r'''#!/usr/bin/env python3
"""Stands in for the AWS CLI: serves fixture files, records every call."""
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")


def value(flag):
    return args[args.index(flag) + 1]


def fail(code, message):
    sys.stderr.write(f"An error occurred ({code}) when calling the operation: {message}\n")
    sys.exit(254)


def registry():
    path = os.environ.get("STUB_REGISTRY", "")
    return json.load(open(path)) if path and os.path.exists(path) else {"images": []}


def save(document):
    json.dump(document, open(os.environ["STUB_REGISTRY"], "w"))


def image_ids():
    found = []
    for arg in args[args.index("--image-ids") + 1 :]:
        if arg.startswith("--"):
            break
        key, _, wanted = arg.partition("=")
        found.append((key, wanted))
    return found


def record_path(key):
    return os.path.join(os.environ["STUB_RECORDS"], f"{key['environment']['S']}__{key['executionId']['S']}.json")


if args[:2] == ["cloudformation", "describe-stacks"]:
    if os.environ["STUB_STACK"] == "missing":
        fail("ValidationError", f"Stack with id {value('--stack-name')} does not exist")
    if os.environ["STUB_STACK"] == "denied":
        fail("AccessDenied", "User is not authorized to perform: cloudformation:DescribeStacks")
    sys.stdout.write(open(os.environ["STUB_STACK"]).read())
elif args[:2] == ["cloudformation", "describe-change-set"]:
    token = value("--next-token") if "--next-token" in args else "page-1"
    sys.stdout.write(open(os.path.join(os.environ["STUB_PAGES"], token + ".json")).read())
elif args[:2] == ["cloudformation", "get-template"]:
    path = os.environ.get("STUB_TEMPLATE" if "--change-set-name" in args else "STUB_STACK_TEMPLATE", "")
    if not path or not os.path.exists(path):
        fail("ValidationError", "ChangeSet does not exist or has no template")
    sys.stdout.write(open(path).read())
elif args[:2] == ["ecr", "describe-images"]:
    ((_, tag),) = image_ids()
    found = [i for i in registry()["images"] if tag in i["tags"]]
    if not found:
        fail("ImageNotFoundException", f"The image with imageId {{imageTag:'{tag}'}} does not exist")
    if "--query" in args:
        assert value("--query") == "imageDetails[0].imageDigest", args
        print(found[0]["digest"])
    else:
        print(json.dumps({"imageDetails": [{"imageDigest": found[0]["digest"], "imageTags": found[0]["tags"]}]}))
elif args[:2] == ["ecr", "batch-get-image"]:
    ((_, digest),) = image_ids()
    found = [i for i in registry()["images"] if i["digest"] == digest]
    print(json.dumps({"images": [
        {"imageId": {"imageDigest": i["digest"]}, "imageManifest": i["manifest"],
         "imageManifestMediaType": i["mediaType"]} for i in found
    ], "failures": []}))
elif args[:2] == ["ecr", "put-image"]:
    document = registry()
    tag, digest = value("--image-tag"), value("--image-digest")
    (image,) = [i for i in document["images"] if i["digest"] == digest]
    assert value("--image-manifest") == image["manifest"], "put-image with another manifest"
    # ECR API reference, PutImage: the tag on this image already, ImageAlreadyExistsException;
    # on another, ImageTagAlreadyExistsException in an immutable repository, else it moves.
    if tag in image["tags"]:
        fail("ImageAlreadyExistsException", f"Image with digest '{digest}' and tag '{tag}' already exists")
    if any(tag in i["tags"] for i in document["images"]):
        if document.get("immutable"):
            fail("ImageTagAlreadyExistsException", f"The image tag '{tag}' already exists and cannot be overwritten")
        for other in document["images"]:
            other["tags"] = [t for t in other["tags"] if t != tag]
    image["tags"].append(tag)
    save(document)
    print(json.dumps({"image": {"imageId": {"imageDigest": digest, "imageTag": tag}}}))
elif args[:2] == ["ecr", "list-images"]:
    print(json.dumps({"imageIds": [
        {"imageDigest": i["digest"], "imageTag": t} for i in registry()["images"] for t in i["tags"]
    ]}))
elif args[:2] == ["ecr", "batch-delete-image"]:
    # A tag is taken off; an image left with no tag is deleted (ECR, BatchDeleteImage).
    document = registry()
    for _, tag in image_ids():
        for image in document["images"]:
            if tag in image["tags"]:
                image["tags"].remove(tag)
    document["images"] = [i for i in document["images"] if i["tags"]]
    save(document)
    print(json.dumps({"imageIds": [], "failures": []}))
elif args[:2] == ["codepipeline", "list-action-executions"]:
    sys.stdout.write(open(os.environ["STUB_ACTIONS"]).read())
elif args[:2] == ["iam", "get-group"]:
    sys.stdout.write(open(os.environ["STUB_GROUP"]).read())
elif args[:2] == ["dynamodb", "get-item"]:
    path = record_path(json.loads(value("--key")))
    print(json.dumps({"Item": json.load(open(path))} if os.path.exists(path) else {}))
elif args[:2] == ["dynamodb", "put-item"]:
    item = json.loads(value("--item"))
    json.dump(item, open(record_path(item), "w"))
elif args[:2] == ["dynamodb", "query"]:
    wanted = json.loads(value("--expression-attribute-values"))[":environment"]["S"]
    items = [
        json.load(open(os.path.join(os.environ["STUB_RECORDS"], name)))
        for name in sorted(os.listdir(os.environ["STUB_RECORDS"]))
        if name.startswith(wanted + "__")
    ]
    print(json.dumps({"Items": items, "Count": len(items)}))
elif args[:2] == ["codepipeline", "get-pipeline-execution"]:
    statuses = json.load(open(os.environ["STUB_EXECUTIONS"]))
    execution = value("--pipeline-execution-id")
    if execution not in statuses:
        fail("PipelineExecutionNotFoundException", f"execution {execution} not found")
    print(json.dumps({"pipelineExecution": {"pipelineExecutionId": execution, "status": statuses[execution]}}))
elif args[:2] == ["codepipeline", "start-pipeline-execution"]:
    print(json.dumps({"pipelineExecutionId": "0000000f-0000-4000-8000-00000000000f"}))
elif args[:2] == ["configure", "set"]:
    pass
elif args[:2] == ["s3", "cp"]:
    destination = os.path.join(os.environ["STUB_S3"], args[3].removeprefix("s3://"))
    shutil.copytree(args[2], destination, dirs_exist_ok=True)
else:
    sys.exit(f"unexpected aws call: {args}")
'''


# The stack recovery (build-image/recover-stack): a stack in STUB_STATUS ("missing": none;
# "denied": not readable), its reason in STUB_REASON.
STACK_AWS = r'''#!/usr/bin/env python3
"""Stands in for the AWS CLI: a stack in STUB_STATUS, every call recorded."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
status = os.environ["STUB_STATUS"]
if args[:2] == ["cloudformation", "describe-stacks"]:
    name = args[args.index("--stack-name") + 1]
    if status == "missing":
        sys.stderr.write(
            "An error occurred (ValidationError) when calling the DescribeStacks operation: "
            f"Stack with id {name} does not exist\n"
        )
        sys.exit(254)
    if status == "denied":
        sys.stderr.write(
            "An error occurred (AccessDenied) when calling the DescribeStacks operation: "
            "User is not authorized to perform: cloudformation:DescribeStacks\n"
        )
        sys.exit(254)
    # --query 'Stacks[0].[StackStatus,StackStatusReason]' --output text
    print(status + "\t" + os.environ.get("STUB_REASON", "None"))
elif args[:2] in (["cloudformation", "delete-stack"], ["cloudformation", "wait"], ["configure", "set"]):
    pass
else:
    sys.exit(f"unexpected aws call: {args}")
'''


# The drift check (build-image/check-drift): a stack in STUB_STATUS ("missing": none; "denied":
# not readable); the first STUB_DETECT_BUSY DetectStackDrift calls refused because another
# detection runs; each DescribeStackDriftDetectionStatus answers the next of the comma-separated
# STUB_DETECTION (the last one from then on; default DETECTION_COMPLETE), with
# STUB_DETECTION_REASON and the stack's STUB_STACK_DRIFT_STATUS; DescribeStackResourceDrifts of
# MODIFIED and DELETED resources pages from STUB_DRIFT_PAGES/<token>.json (the first is page-1),
# each {"StackResourceDrifts": [...], "NextToken": ...}, and of NOT_CHECKED ones lists
# STUB_NOT_CHECKED resources.
DRIFT_AWS = r'''#!/usr/bin/env python3
"""Stands in for the AWS CLI: drift detection on a stack in STUB_STATUS, every call recorded."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
status = os.environ["STUB_STATUS"]


def value(flag):
    return args[args.index(flag) + 1]


def fail(code, operation, message):
    sys.stderr.write(f"An error occurred ({code}) when calling the {operation} operation: {message}\n")
    sys.exit(254)


if args[:2] == ["cloudformation", "describe-stacks"]:
    if status == "missing":
        fail("ValidationError", "DescribeStacks", f"Stack with id {value('--stack-name')} does not exist")
    if status == "denied":
        fail("AccessDenied", "DescribeStacks", "User is not authorized to perform: cloudformation:DescribeStacks")
    print(json.dumps({"Stacks": [{"StackName": value("--stack-name"), "StackStatus": status}]}))
elif args[:2] == ["cloudformation", "detect-stack-drift"]:
    asked = sum(1 for line in open(os.environ["STUB_LOG"]) if "detect-stack-drift" in line)
    if asked <= int(os.environ.get("STUB_DETECT_BUSY", "0")):
        fail("ValidationError", "DetectStackDrift", "Drift detection is already in progress for stack")
    print(json.dumps({"StackDriftDetectionId": "b78ac9b0-dec1-11e7-a451-503a3example"}))
elif args[:2] == ["cloudformation", "describe-stack-drift-detection-status"]:
    answers = os.environ.get("STUB_DETECTION", "DETECTION_COMPLETE").split(",")
    asked = sum(1 for line in open(os.environ["STUB_LOG"]) if "describe-stack-drift-detection-status" in line)
    detection = answers[min(asked, len(answers)) - 1]
    answer = {"StackDriftDetectionId": value("--stack-drift-detection-id"), "DetectionStatus": detection}
    if os.environ.get("STUB_DETECTION_REASON"):
        answer["DetectionStatusReason"] = os.environ["STUB_DETECTION_REASON"]
    if os.environ.get("STUB_STACK_DRIFT_STATUS"):
        answer["StackDriftStatus"] = os.environ["STUB_STACK_DRIFT_STATUS"]
    print(json.dumps(answer))
elif args[:2] == ["cloudformation", "describe-stack-resource-drifts"]:
    filters = args[args.index("--stack-resource-drift-status-filters") + 1 :]
    if filters[:1] == ["NOT_CHECKED"]:
        unchecked = int(os.environ.get("STUB_NOT_CHECKED", "0"))
        print(json.dumps({"StackResourceDrifts": [
            {"LogicalResourceId": f"Unchecked{n}", "StackResourceDriftStatus": "NOT_CHECKED"} for n in range(unchecked)
        ]}))
        sys.exit(0)
    assert filters[:2] == ["MODIFIED", "DELETED"], args
    token = value("--next-token") if "--next-token" in args else "page-1"
    path = os.path.join(os.environ.get("STUB_DRIFT_PAGES", ""), token + ".json")
    sys.stdout.write(open(path).read() if os.path.exists(path) else json.dumps({"StackResourceDrifts": []}))
else:
    sys.exit(f"unexpected aws call: {args}")
'''
