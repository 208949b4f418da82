"""Runs the SAM transform on template.yaml offline and writes the resulting CloudFormation template as JSON.

cfn-lint no longer expands AWS::Serverless resources, so mistakes inside them (a bad runtime, an event property SAM
does not know) pass unnoticed; linting the expanded template catches them. Local CodeUri values are replaced by a
dummy S3 location, since the transform only checks their shape, and managed policies resolve to placeholder ARNs so
no AWS account is needed.

Usage: python3 infra/sam_transform.py template.yaml out.json
"""

import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

DUMMY_CODE = {"Bucket": "postora-validate", "Key": "code.zip"}


def with_dummy_code(template):
    globals_fn = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_fn.get("CodeUri"), str):
        globals_fn["CodeUri"] = DUMMY_CODE
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if isinstance(props.get("CodeUri"), str):
                props["CodeUri"] = DUMMY_CODE
    return template


class PlaceholderPolicies(dict):
    """Any managed policy name maps to a placeholder ARN."""

    def __missing__(self, name):
        return f"arn:aws:iam::aws:policy/{name}"


def main():
    source, target = sys.argv[1], sys.argv[2]
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(source, encoding="utf-8") as f:
        template = with_dummy_code(yaml_parse(f.read()))
    translator = Translator(managed_policy_map=None, sam_parser=Parser())
    try:
        output = translator.translate(
            sam_template=template,
            parameter_values={},
            get_managed_policy_map=PlaceholderPolicies,
        )
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"SAM: {cause.message}", file=sys.stderr)
        sys.exit(1)
    with open(target, "w", encoding="utf-8") as f:
        json.dump(output, f, indent=1)


if __name__ == "__main__":
    main()
