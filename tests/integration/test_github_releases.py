"""Release discovery from GitHub releases through github3.py.

Stand-in: GitHub's REST API cannot be reached here, so a loopback server (pytest-httpserver)
answers as a GitHub Enterprise server would (`releases.github_url`). The JSON bodies carry
the fields github3.py reads; their values are placeholders except names, tags and URLs.
"""

import pytest
from werkzeug import Response

from pipeline.errors import ResolutionError
from pipeline.matrix import Releases, Sources
from pipeline.releases import ReleaseIndex
from pipeline.versions import resolve

USER_FIELDS = ["avatar_url", "events_url", "followers_url", "following_url", "gists_url",
               "gravatar_id", "html_url", "organizations_url", "received_events_url",
               "repos_url", "starred_url", "subscriptions_url", "type", "url"]
REPO_FIELDS = [
    "archive_url", "assignees_url", "blobs_url", "branches_url", "clone_url", "collaborators_url",
    "comments_url", "commits_url", "compare_url", "contents_url", "contributors_url",
    "default_branch", "deployments_url", "description", "downloads_url", "events_url",
    "forks_url", "git_commits_url", "git_refs_url", "git_tags_url", "git_url", "homepage",
    "hooks_url", "html_url", "issue_comment_url", "issue_events_url", "issues_url", "keys_url",
    "labels_url", "language", "languages_url", "merges_url", "milestones_url", "mirror_url",
    "notifications_url", "pulls_url", "releases_url", "ssh_url", "stargazers_url",
    "statuses_url", "subscribers_url", "subscription_url", "svn_url", "tags_url", "teams_url",
    "trees_url"]
REPO_NUMBERS = ["forks_count", "network_count", "open_issues_count", "size", "stargazers_count",
                "subscribers_count", "watchers_count"]
REPO_FLAGS = ["archived", "fork", "has_downloads", "has_issues", "has_pages", "has_projects",
              "has_wiki", "private"]
WHEN = "2026-04-10T14:02:00Z"


def user():
    return {**{k: "https://example.invalid/u" for k in USER_FIELDS}, "id": 1, "login": "asterisk"}


def repository(api):
    return {**{k: "https://example.invalid/r" for k in REPO_FIELDS},
            **{k: 0 for k in REPO_NUMBERS}, **{k: False for k in REPO_FLAGS},
            "id": 1, "name": "asterisk", "full_name": "asterisk/asterisk", "owner": user(),
            "url": f"{api}/repos/asterisk/asterisk", "created_at": WHEN, "updated_at": WHEN,
            "pushed_at": WHEN}


def release(tag, asset_names, number):
    assets = [{"id": number * 10 + i, "name": name, "label": "", "state": "uploaded",
               "content_type": "application/octet-stream", "size": 1, "download_count": 0,
               "created_at": WHEN, "updated_at": WHEN, "url": "https://example.invalid/a",
               "browser_download_url": f"https://github.com/asterisk/asterisk/releases/download/{tag}/{name}"}
              for i, name in enumerate(asset_names)]
    return {"id": number, "tag_name": tag, "name": f"Asterisk {tag}", "body": "", "draft": False,
            "prerelease": "-rc" in tag, "created_at": WHEN, "published_at": WHEN,
            "target_commitish": "master", "author": user(), "assets": assets,
            **{k: "https://example.invalid/rel" for k in
               ["assets_url", "html_url", "tarball_url", "upload_url", "url", "zipball_url"]}}


def test_releases_from_github(httpserver):
    base = httpserver.url_for("").rstrip("/")
    api = f"{base}/api/v3"
    httpserver.expect_request("/api/v3/repos/asterisk/asterisk").respond_with_json(repository(api))
    httpserver.expect_request("/api/v3/repos/asterisk/asterisk/releases").respond_with_json([
        release("23.4.1", ["asterisk-23.4.1.tar.gz", "asterisk-23.4.1.sha256", "asterisk-23.4.1.md5"], 1),
        release("23.5.0-rc1", ["asterisk-23.5.0-rc1.tar.gz", "asterisk-23.5.0-rc1.sha256"], 2),
        release("22.10.1", ["asterisk-22.10.1.tar.gz", "asterisk-22.10.1.sha256"], 3),
        release("22.10.0", ["ChangeLog-22.10.0.md"], 4),  # no tarball: not buildable, skipped
        release("certified-22.8-cert3", ["asterisk-certified-22.8-cert3.tar.gz"], 5),
    ])
    index = ReleaseIndex(Releases(source="github", github_url=base), Sources())
    assert [str(v) for v in index.versions()] == ["22.10.1", "23.4.1", "23.5.0-rc1"]
    assert str(resolve("latest", index.versions())) == "23.4.1"
    release_22 = index.get(resolve("22.x", index.versions()))
    assert release_22.tarball_url == \
        "https://github.com/asterisk/asterisk/releases/download/22.10.1/asterisk-22.10.1.tar.gz"
    assert release_22.checksum_urls == (
        "https://github.com/asterisk/asterisk/releases/download/22.10.1/asterisk-22.10.1.sha256",)
    assert [str(v) for v in index.versions(certified=True)] == ["22.8-cert3"]


def test_github_unreachable_is_a_resolution_error(httpserver):
    httpserver.expect_request("/api/v3/repos/asterisk/asterisk").respond_with_response(
        Response("down", status=502))
    index = ReleaseIndex(Releases(source="github", github_url=httpserver.url_for("")), Sources())
    with pytest.raises(ResolutionError, match="cannot read releases of asterisk/asterisk on GitHub"):
        index.versions()
