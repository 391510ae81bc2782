"""Patches 49, 50 and 51 through AWS's API: CloudFormation's status change events on each
account-region's default bus (with the operation's request token, and the delivery faults),
DescribeAccountLimits, and a rule forwarding them to another account's bus.

Run: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""

from __future__ import annotations

import json
import time
import unittest

import boto3
from botocore.config import Config

from rotatetoken.testing import EmulatorTestCase

CONFIG = "/moto-api/rotatetoken/config"
PIPELINE, TARGET = "123456789012", "222222222222"
TEMPLATE = json.dumps({
    "Parameters": {"Env": {"Type": "String", "Default": "a"}},
    "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": {"Ref": "Env"}}}},
})
STATUS_PATTERN = json.dumps({"source": ["aws.cloudformation"], "detail-type": ["CloudFormation Stack Status Change"]})


class StackStatusEvents(EmulatorTestCase):
    def tearDown(self) -> None:
        self.emulator.post(CONFIG, {"stack_status_event_faults": {}, "stack_status_events": {},
                                    "account_limits": {}, "bus_deliveries_refused": 0})
        self.emulator.reset()

    def client(self, service: str, account: str = PIPELINE):
        if account == PIPELINE:
            return self.emulator.client(service)
        creds = self.emulator.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="test")["Credentials"]
        return boto3.client(service, endpoint_url=self.emulator.url, region_name="us-east-1",
                            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"],
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}))

    def queue_for_status_events(self, account: str = PIPELINE) -> str:
        """A rule on the account's default bus sending status change events to a queue."""
        sqs, events = self.client("sqs", account), self.client("events", account)
        url = sqs.create_queue(QueueName="status")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="status", EventPattern=STATUS_PATTERN)
        events.put_targets(Rule="status", Targets=[{"Id": "q", "Arn": arn}])
        return url

    def received(self, url: str, account: str = PIPELINE, wait: float = 3.0) -> list[dict]:
        """What reached the queue: polled until `wait` has passed, or until one second after
        the last message with nothing more (delayed copies arrive within the configured
        delay, under a second here)."""
        sqs, out, start = self.client("sqs", account), [], time.time()
        last = start
        while time.time() - start < wait and not (out and time.time() - last > 1.0):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            out += [json.loads(m["Body"]) for m in got]
            if got:
                last = time.time()
            else:
                time.sleep(0.1)
        return out

    def update(self, cfn, token: str) -> None:
        cfn.update_stack(StackName="app", UsePreviousTemplate=True, ClientRequestToken=token,
                         Parameters=[{"ParameterKey": "Env", "ParameterValue": token}])

    def test_an_update_sends_each_status_with_its_request_token(self) -> None:
        cfn = self.client("cloudformation")
        cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        url = self.queue_for_status_events()
        self.update(cfn, "rt-one")
        events = self.received(url)
        statuses = [e["detail"]["status-details"]["status"] for e in events]
        self.assertEqual(statuses, ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"], "each status once, in order")
        stack_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
        for e in events:
            self.assertEqual((e["source"], e["detail-type"]), ("aws.cloudformation", "CloudFormation Stack Status Change"))
            self.assertEqual((e["account"], e["region"], e["resources"]), (PIPELINE, "us-east-1", [stack_id]))
            self.assertEqual(e["detail"]["stack-id"], stack_id)
            self.assertEqual(e["detail"]["client-request-token"], "rt-one")

    def test_a_rolled_back_update_and_a_forced_status_end_with_their_event(self) -> None:
        cfn = self.client("cloudformation")
        cfn.create_stack(StackName="app", TemplateBody=TEMPLATE.replace(
            '"Resources": {', '"Conditions": {"B": {"Fn::Equals": [{"Ref": "Env"}, "b"]}}, "Resources": {'
            '"Extra": {"Type": "AWS::SSM::Parameter", "Condition": "B", "Properties": {"Type": "String", "Value": "x"}}, '))
        url = self.queue_for_status_events()
        self.emulator.post(CONFIG, {"fail_create": {"app": ["Extra"]}})
        cfn.update_stack(StackName="app", UsePreviousTemplate=True, ClientRequestToken="rt-fails",
                         Parameters=[{"ParameterKey": "Env", "ParameterValue": "b"}])
        events = self.received(url)
        statuses = [e["detail"]["status-details"]["status"] for e in events]
        self.assertEqual(statuses[0], "UPDATE_IN_PROGRESS", statuses)
        self.assertEqual(statuses[-1], "UPDATE_ROLLBACK_COMPLETE", statuses)
        self.assertEqual({e["detail"]["client-request-token"] for e in events}, {"rt-fails"})
        self.assertEqual(cfn.describe_stacks(StackName="app")["Stacks"][0]["StackStatus"], "UPDATE_ROLLBACK_COMPLETE")
        self.emulator.post(CONFIG, {"fail_create": {}})

        status, _ = self.emulator.post("/moto-api/rotatetoken/stack-status",
                                       {"stack": "app", "status": "UPDATE_ROLLBACK_FAILED", "reason": "forced"})
        self.assertEqual(status, 200)
        forced = self.received(url)
        self.assertEqual([e["detail"]["status-details"]["status"] for e in forced], ["UPDATE_ROLLBACK_FAILED"])

    def test_lost_and_doubled_events_are_counted(self) -> None:
        cfn = self.client("cloudformation")
        cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        url = self.queue_for_status_events()
        self.emulator.post(CONFIG, {"stack_status_event_faults": {"lose": 1.0}, "stack_status_events": {}})
        self.update(cfn, "rt-lost")
        self.assertEqual(self.received(url), [])
        _, config = self.emulator.post(CONFIG, {})
        counts = config["stack_status_events"]
        self.assertGreaterEqual(counts["emitted"], 2)
        self.assertEqual(counts["lost"], counts["emitted"])

        self.emulator.post(CONFIG, {"stack_status_event_faults": {"duplicate": 1.0, "delay_seconds": [0, 0.5]},
                                    "stack_status_events": {}})
        self.update(cfn, "rt-twice")
        events = self.received(url)
        _, config = self.emulator.post(CONFIG, {})
        counts = config["stack_status_events"]
        self.assertEqual(len(events), 2 * counts["emitted"])
        self.assertEqual(counts["duplicated"], counts["emitted"])
        ids = [e["id"] for e in events]
        self.assertEqual(len(set(ids)), counts["emitted"], "a duplicate is the same event, same id")

    def test_deliveries_behind_a_later_event_of_the_stack_are_counted_as_reordered(self) -> None:
        cfn = self.client("cloudformation")
        cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        url = self.queue_for_status_events()
        self.emulator.post(CONFIG, {"stack_status_event_faults": {}, "stack_status_events": {}})
        self.update(cfn, "rt-in-order")
        self.received(url)
        _, config = self.emulator.post(CONFIG, {})
        self.assertNotIn("reordered", config["stack_status_events"], "delivered at once, in order")

        self.emulator.post(CONFIG, {"stack_status_event_faults": {"duplicate": 1.0, "delay_seconds": [0, 0.5],
                                                                  "seed": 11},
                                    "stack_status_events": {}})
        for n in range(3):
            self.update(cfn, f"rt-late-{n}")
        events = self.received(url)
        _, config = self.emulator.post(CONFIG, {})
        counts = config["stack_status_events"]
        self.assertEqual(len(events), 2 * counts["emitted"])
        self.assertGreater(counts.get("reordered", 0), 0, counts)
        self.assertLess(counts["reordered"], len(events), counts)

    def test_a_forwarding_rule_needs_the_receiving_bus_policy_and_keeps_the_event_whole(self) -> None:
        url = self.queue_for_status_events(PIPELINE)
        target_events = self.client("events", TARGET)
        target_events.put_rule(Name="forward", EventPattern=STATUS_PATTERN)
        target_events.put_targets(Rule="forward", Targets=[{
            "Id": "pipeline", "Arn": f"arn:aws:events:us-east-1:{PIPELINE}:event-bus/default"}])
        cfn = self.client("cloudformation", TARGET)
        cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)
        self.update(cfn, "rt-refused")
        self.assertEqual(self.received(url), [], "no bus policy: the pipeline's bus refuses the target account")
        _, config = self.emulator.post(CONFIG, {})
        self.assertGreater(config["bus_deliveries_refused"], 0)

        self.client("events").put_permission(Action="events:PutEvents", Principal=TARGET, StatementId="targets")
        self.update(cfn, "rt-forwarded")
        events = self.received(url)
        self.assertTrue(events)
        stack_id = cfn.describe_stacks(StackName="app")["Stacks"][0]["StackId"]
        # A bus that received an event from another bus sends it to no third bus.
        third = self.client("events", "333333333333")
        self.client("events").put_rule(Name="onward", EventPattern=STATUS_PATTERN)
        self.client("events").put_targets(Rule="onward", Targets=[{
            "Id": "third", "Arn": "arn:aws:events:us-east-1:333333333333:event-bus/default"}])
        third.put_permission(Action="events:PutEvents", Principal=PIPELINE, StatementId="pipeline")
        third_url = self.queue_for_status_events("333333333333")
        self.update(cfn, "rt-not-onward")
        self.assertTrue(self.received(url))
        self.assertEqual(self.received(third_url, "333333333333", wait=1.0), [])
        for e in events:
            self.assertEqual(e["account"], TARGET, "the source account is kept")
            self.assertEqual(e["detail"]["stack-id"], stack_id)
            self.assertEqual(e["detail"]["client-request-token"], "rt-forwarded")

    def test_a_bus_policy_judges_the_events_source_and_detail_type(self) -> None:
        """Patch 51: a policy admitting only CloudFormation's status changes (events:source,
        events:detail-type) lets them through, and nothing else from the same account."""
        url = self.queue_for_status_events(PIPELINE)
        target_events = self.client("events", TARGET)
        target_events.put_rule(Name="forward", EventPattern=STATUS_PATTERN)
        target_events.put_targets(Rule="forward", Targets=[{
            "Id": "pipeline", "Arn": f"arn:aws:events:us-east-1:{PIPELINE}:event-bus/default"}])
        cfn = self.client("cloudformation", TARGET)
        cfn.create_stack(StackName="app", TemplateBody=TEMPLATE)

        def policy(source: str) -> str:
            return json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "ends", "Effect": "Allow", "Principal": {"AWS": TARGET}, "Action": "events:PutEvents",
                "Resource": f"arn:aws:events:us-east-1:{PIPELINE}:event-bus/default",
                "Condition": {"ForAllValues:StringEquals": {"events:source": source},
                              "StringEquals": {"events:detail-type": "CloudFormation Stack Status Change"}}}]})

        self.client("events").put_permission(Policy=policy("aws.secretsmanager"))
        self.update(cfn, "rt-other-source")
        self.assertEqual(self.received(url, wait=1.5), [], "a policy for another source admits nothing here")
        self.client("events").put_permission(Policy=policy("aws.cloudformation"))
        self.update(cfn, "rt-admitted")
        tokens = {e["detail"]["client-request-token"] for e in self.received(url)}
        self.assertEqual(tokens, {"rt-admitted"})

    def test_describe_account_limits_answers_aws_defaults_or_the_configured_ones(self) -> None:
        cfn = self.client("cloudformation")
        limits = {x["Name"]: x["Value"] for x in cfn.describe_account_limits()["AccountLimits"]}
        self.assertEqual(limits["ConcurrentResourcesLimit"], 2500)
        self.assertEqual(limits["StackLimit"], 2000)
        self.emulator.post(CONFIG, {"account_limits": {"ConcurrentResourcesLimit": 300}})
        limits = {x["Name"]: x["Value"] for x in cfn.describe_account_limits()["AccountLimits"]}
        self.assertEqual(limits["ConcurrentResourcesLimit"], 300)


if __name__ == "__main__":
    unittest.main()
