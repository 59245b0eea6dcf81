"""Amazon ECR's login: the standard AWS credential chain (boto3: environment, profile,
instance or OIDC role) exchanged for a registry token, and the repository's tag mutability.
Account and region come from matrix.yaml, else from AWS_REGION / AWS_DEFAULT_REGION and STS
(the account of the credentials). boto3 honours AWS_ENDPOINT_URL(_ECR/_STS), which is how
the tests reach a stand-in."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from . import log
from .errors import ConfigurationError, CredentialsError, PublishError
from .redaction import redact


@dataclasses.dataclass(frozen=True, kw_only=True)
class Access:
    """What an ECR login found out, besides the token."""

    account: str
    region: str
    endpoint: str          # the registry host the token is for: ACCOUNT.dkr.ecr.REGION.amazonaws.com
    username: str
    token: str
    immutable: bool        # the repository's tags are IMMUTABLE: created, never moved


def login(*, name: str, repository: str, account: str, region: str, environ: Mapping[str, str],
          create: bool) -> Access:
    """A registry token for account in region, and whether repository's tags are immutable;
    the repository is created (with mutable tags) when missing, unless create is False (a
    dry run changes nothing). name is the matrix entry's, for messages."""
    import boto3
    import botocore.exceptions

    region = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION", "")
    if not region:
        raise ConfigurationError(f"{name}: no region for ECR; add 'region:' to the registry "
                                 "in matrix.yaml or set AWS_REGION")
    try:
        account = account or boto3.client("sts", region_name=region).get_caller_identity()["Account"]
        ecr = boto3.client("ecr", region_name=region)
        with log.step(f"ECR token for {account} in {region}"):
            data = ecr.get_authorization_token(registryIds=[account])["authorizationData"][0]
        username, _, token = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        immutable = _repository(ecr, account, repository, create=create)
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsError(f"{name}: no AWS credentials found; set AWS_ACCESS_KEY_ID/"
                               "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role (the standard AWS "
                               "credential chain)") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise PublishError(f"{name}: AWS API call failed: {redact(str(error))}") from None
    return Access(account=account, region=region, endpoint=re.sub(r"^https?://", "", data["proxyEndpoint"]),
                  username=username, token=token, immutable=immutable)


def _repository(ecr: Any, account: str, repository: str, *, create: bool) -> bool:
    """Whether the repository's tags are immutable; creates it (mutable) when missing."""
    try:
        found = ecr.describe_repositories(registryId=account, repositoryNames=[repository])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        if not create:
            return False
        with log.step(f"create ECR repository {repository}"):
            ecr.create_repository(registryId=account, repositoryName=repository,
                                  imageTagMutability="MUTABLE")
        return False
    return str(found.get("imageTagMutability", "MUTABLE")).startswith("IMMUTABLE")
