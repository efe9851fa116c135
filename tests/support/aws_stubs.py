"""Stand-ins for the AWS CLI (`aws`) that the build image's scripts call: each records every
call (one JSON list per line in STUB_LOG) and answers from files or variables the caller sets.
Used where a script runs for real: the unit tests, the container tier, and the pipeline-run
simulator (tests/support/pipeline_run.py), which sets them from the state it keeps.
"""

# The change-set review (build-image/review-change-set): DescribeChangeSet pages from
# STUB_PAGES/<token>.json (the first is page-1), DescribeStacks from STUB_STACK, uploads
# copied under STUB_S3.
REVIEW_AWS = r'''#!/usr/bin/env python3
"""Stands in for the AWS CLI: serves fixture pages, records every call."""
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:2] == ["cloudformation", "describe-stacks"]:
    sys.stdout.write(open(os.environ["STUB_STACK"]).read())
elif args[:2] == ["cloudformation", "describe-change-set"]:
    token = args[args.index("--next-token") + 1] if "--next-token" in args else "page-1"
    sys.stdout.write(open(os.path.join(os.environ["STUB_PAGES"], token + ".json")).read())
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
