"""devtools/local/lambda_events.py: the API Gateway HTTP API v2 events it builds, and the routes it reads."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from devtools.local.lambda_events import (
    API_DOMAIN,
    Route,
    expand_for_each,
    http_api_event,
    load_template,
    routes_from_template,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2025, 11, 20, 14, 3, 7, 412000, tzinfo=UTC)


def test_event_has_the_v2_shape() -> None:
    event = http_api_event("get", "/v1/search", "perturbation_gene_name=SPI1", request_id="abc=", now=NOW)
    assert list(event) == [
        "version", "routeKey", "rawPath", "rawQueryString", "headers", "queryStringParameters",
        "requestContext", "isBase64Encoded",
    ]  # fmt: skip
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/search"
    assert event["rawPath"] == "/v1/search"
    assert event["rawQueryString"] == "perturbation_gene_name=SPI1"
    assert event["queryStringParameters"] == {"perturbation_gene_name": "SPI1"}
    assert event["isBase64Encoded"] is False
    assert event["requestContext"] == {
        "accountId": "123456789012",
        "apiId": API_DOMAIN.split(".")[0],
        "domainName": API_DOMAIN,
        "domainPrefix": API_DOMAIN.split(".")[0],
        "http": {
            "method": "GET",
            "path": "/v1/search",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "abc=",
        "routeKey": "GET /v1/search",
        "stage": "$default",
        "time": "20/Nov/2025:14:03:07 +0000",
        "timeEpoch": 1763647387412,
    }


def test_gateway_adds_its_headers() -> None:
    client = {"Host": "api.example.org", "X-Forwarded-For": "198.51.100.1"}
    event = http_api_event("GET", "/v1/search", "", client)
    headers = event["headers"]
    assert headers["host"] == "api.example.org"
    assert headers["x-forwarded-for"] == "198.51.100.1, 203.0.113.10"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-port"] == "443"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert event["requestContext"]["domainName"] == "api.example.org"


def test_header_names_are_lowercased_duplicates_joined_and_cookies_moved() -> None:
    client = [("Accept", "a/b"), ("X-Tag", "1"), ("x-tag", "2"), ("Cookie", "a=1; b=2")]
    event = http_api_event("GET", "/v1/search", "", client)
    assert event["headers"]["accept"] == "a/b"
    assert event["headers"]["x-tag"] == "1,2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]


def test_no_query_string_means_no_query_parameters() -> None:
    event = http_api_event("GET", "/v1/search")
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "cookies" not in event and "pathParameters" not in event and "body" not in event


def test_repeated_parameters_are_joined_by_commas_but_all_kept_in_raw_query_string() -> None:
    event = http_api_event("GET", "/v1/search", [("group_by", "a"), ("x", "1"), ("group_by", "b")])
    assert event["rawQueryString"] == "group_by=a&x=1&group_by=b"
    assert event["queryStringParameters"] == {"group_by": "a,b", "x": "1"}


def test_pairs_are_url_encoded_and_parameters_decoded() -> None:
    pairs = [("dataset_metadata", "T cell & B+/ü"), ("q", "a=b"), ("empty", "")]
    event = http_api_event("GET", "/v1/search", pairs)
    assert event["rawQueryString"] == "dataset_metadata=T%20cell%20%26%20B%2B%2F%C3%BC&q=a%3Db&empty="
    assert parse_qsl(event["rawQueryString"], keep_blank_values=True) == pairs
    assert event["queryStringParameters"] == dict(pairs)


def test_raw_query_string_is_kept_verbatim() -> None:
    event = http_api_event("GET", "/v1/search", "?a=x+y&b=%2B&flag")
    assert event["rawQueryString"] == "a=x+y&b=%2B&flag"
    assert event["queryStringParameters"] == {"a": "x y", "b": "+", "flag": ""}


def test_named_stage_stays_in_the_path() -> None:
    event = http_api_event("GET", "/v1/search", stage="prod")
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/prod/v1/search"
    assert event["requestContext"]["stage"] == "prod"
    assert event["routeKey"] == "GET /v1/search"


def test_route_key_and_path_parameters() -> None:
    key = "GET /v1/datasets/{dataset_id}"
    event = http_api_event("GET", "/v1/datasets/d1", route_key=key, path_parameters={"dataset_id": "d1"})
    assert event["routeKey"] == event["requestContext"]["routeKey"] == key
    assert event["pathParameters"] == {"dataset_id": "d1"}


def test_body_is_text_or_base64() -> None:
    assert http_api_event("POST", "/x", body=b'{"a": 1}')["body"] == '{"a": 1}'
    binary = http_api_event("POST", "/x", body=b"\xff\x00")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00"


def test_path_must_be_absolute() -> None:
    with pytest.raises(ValueError):
        http_api_event("GET", "v1/search")


def test_route_match() -> None:
    route = Route("GET", "/v1/datasets/{dataset_id}/rows/{rest+}", "F", "functions/f/", "app.handler")
    assert route.match("get", "/v1/datasets/a%20b/rows/x/y") == {"dataset_id": "a b", "rest": "x/y"}
    assert route.match("POST", "/v1/datasets/a/rows/x") is None
    assert route.match("GET", "/v1/datasets/a/rows/") is None
    assert Route("ANY", "/v1/x", "F", "f/", "app.handler").match("DELETE", "/v1/x") == {}
    assert Route("GET", "/v1/x", "F", "f/", "app.handler").match("GET", "/v1/x/") is None


def test_routes_from_the_project_template() -> None:
    routes = {route.route_key: route for route in routes_from_template(ROOT / "template.yaml")}
    search = routes["GET /v1/search"]
    assert (search.function, search.handler) == ("SearchFunction", "app.handler")
    assert search.code_uri == "functions/search/"
    assert search.layers == ("layers/common/", "layers/catalogue/")
    assert (search.timeout, search.memory_size) == (10, 512)


TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Conditions:
  Always: !Equals [a, a]
Globals:
  Function:
    Handler: app.handler
    Timeout: 7
    Layers: [!Ref Lib]
    Environment:
      Variables:
        PLAIN: "1"
        FROM_PARAMETER: !Ref AWS::Region
        JOINED: !Join [",", [a, b]]
Resources:
  Lib:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/lib/}
  Queue:
    Type: AWS::SQS::Queue
  One:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/one/
      Role: !GetAtt Role.Arn
      Description: !Sub "${AWS::StackName} one"
      Environment: {Variables: {OWN: own}}
      Events:
        Item: {Type: HttpApi, Properties: {Method: get, Path: "/v1/items/{item_id}"}}
        List: {Type: HttpApi, Properties: {Method: GET, Path: /v1/items}}
        Special: {Type: HttpApi, Properties: {Method: GET, Path: /v1/items/special}}
        Messages: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
  Two:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/two/
      Handler: main.lambda_handler
      Timeout: !If [Always, 3, 4]
      Events:
        Rest: {Type: HttpApi, Properties: {Method: ANY, Path: "/v1/{proxy+}"}}
        CatchAll: {Type: HttpApi}
"""


def test_routes_from_a_template_with_short_form_tags(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    routes = routes_from_template(path)
    assert [r.route_key for r in routes] == [
        "GET /v1/items", "GET /v1/items/special", "GET /v1/items/{item_id}", "ANY /v1/{proxy+}",
    ]  # fmt: skip
    one, two = routes[0], routes[-1]
    assert (one.function, one.code_uri, one.handler, one.layers, one.timeout) == (
        "One", "functions/one/", "app.handler", ("layers/lib/",), 7,
    )  # fmt: skip
    assert one.environment == {"PLAIN": "1", "OWN": "own"}
    assert (two.function, two.handler, two.timeout, two.memory_size) == ("Two", "main.lambda_handler", 3, 128)


def test_short_form_tags_read_as_long_form(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    template = load_template(path)
    one = template["Resources"]["One"]["Properties"]
    assert one["Role"] == {"Fn::GetAtt": ["Role", "Arn"]}
    assert one["Description"] == {"Fn::Sub": "${AWS::StackName} one"}
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "Lib"}]
    assert template["Resources"]["Two"]["Properties"]["Timeout"] == {"Fn::If": ["Always", 3, 4]}
    assert template["Conditions"]["Always"] == {"Fn::Equals": ["a", "a"]}


def test_for_each_expands_as_cloudformation_documents_it() -> None:
    """Fn::ForEach (AWS::LanguageExtensions): keys and Fn::Sub strings take the item (&{} without its
    non-alphanumeric characters), a Ref to the identifier is the item, a Fn::Sub with nothing left is its string;
    other strings are left alone; the copies join the loop's siblings."""
    template = {"Resources": {
        "Kept": {"Type": "AWS::SNS::Topic"},
        "Fn::ForEach::Topics": ["Name", ["Success", "Failure-2"], {
            "Topic&{Name}": {"Type": "AWS::SNS::Topic", "Properties": {
                "TopicName": {"Ref": "Name"},
                "DisplayName": {"Fn::Sub": "${AWS::StackName}-${Name}"},
                "Note": "${Name} stays",
                "Subscription": [{"Endpoint": {"Ref": {"Fn::Sub": "Queue&{Name}"}}, "Protocol": "sqs"}],
                "Other": {"Ref": "Kept"},
                "Joined": {"Fn::Sub": ["${Name}-${Suffix}", {"Suffix": {"Ref": "Name"}}]},
            }},
        }],
    }}
    resources = expand_for_each(template)["Resources"]
    assert list(resources) == ["Kept", "TopicSuccess", "TopicFailure2"]
    failure = resources["TopicFailure2"]["Properties"]
    assert failure == {
        "TopicName": "Failure-2",
        "DisplayName": {"Fn::Sub": "${AWS::StackName}-Failure-2"},
        "Note": "${Name} stays",
        "Subscription": [{"Endpoint": {"Ref": "QueueFailure2"}, "Protocol": "sqs"}],
        "Other": {"Ref": "Kept"},
        "Joined": {"Fn::Sub": ["Failure-2-${Suffix}", {"Suffix": "Failure-2"}]},
    }


def test_nested_for_each_and_its_errors() -> None:
    nested = {"Fn::ForEach::Outer": ["Prefix", ["Transit", "Public"], {
        "Fn::ForEach::Inner": ["Suffix", ["A", "B"], {
            "${Prefix}Subnet${Suffix}": {"Type": "AWS::EC2::Subnet",
                                         "Properties": {"Tag": {"Fn::Sub": "${Prefix}-${Suffix}"}}}}]}]}
    expanded = expand_for_each(nested)
    assert list(expanded) == ["TransitSubnetA", "TransitSubnetB", "PublicSubnetA", "PublicSubnetB"]
    assert expanded["PublicSubnetB"]["Properties"]["Tag"] == "Public-B"
    with pytest.raises(ValueError, match="TopicA is defined twice"):
        expand_for_each({"TopicA": {}, "Fn::ForEach::T": ["X", ["A"], {"Topic${X}": {}}]})
    with pytest.raises(ValueError, match="literal list"):
        expand_for_each({"Fn::ForEach::T": ["X", {"Ref": "Names"}, {"Topic${X}": {}}]})


def test_routes_and_loops_of_a_template_with_for_each(tmp_path: Path) -> None:
    """A loop among the resources (the project's alarms) is expanded when the template is read, so the routes and
    every resource read as CloudFormation will have them; expand_loops=False reads the template as written."""
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE.replace("Transform: AWS::Serverless-2016-10-31",
                                     "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]") + """\
  Fn::ForEach::Alarms:
    - Name
    - [One, Two]
    - ${Name}Alarm:
        Type: AWS::CloudWatch::Alarm
        Properties:
          Dimensions:
            - {Name: FunctionName, Value: {Ref: !Sub "${Name}"}}
""")
    assert len(routes_from_template(path)) == 4
    resources = load_template(path)["Resources"]
    assert resources["TwoAlarm"]["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "Two"}}]
    assert "Fn::ForEach::Alarms" in load_template(path, expand_loops=False)["Resources"]
