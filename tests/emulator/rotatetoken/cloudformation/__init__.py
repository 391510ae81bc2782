"""CloudFormation as AWS runs it, where moto differs: one module per concern.

common.py        what the others share: a probe of a template, references, rollback events
updates.py       UpdateStack: asynchronous, refused while busy, parameters (3, 4, 5, 6, 7)
conditions.py    Conditions on update, dangling references, cleanup failures (1, 18, 19)
dynamic_refs.py  `{{resolve:secretsmanager|ssm:...}}` (2)
replacement.py   update in place or replace; resource times (29, 30)
change_sets.py   UPDATE change sets computed as the update would run (21), created over time (56)
change_set_lifecycle.py
                 change sets made obsolete by an update, deleted by another's execution,
                 one per name (60)
nested.py        nested stacks and their change sets (22)
transforms.py    the SAM transform and AWS::Include; GetTemplate stages (17, 23)
policies.py      capabilities and stack policies (16, 20)
real_shapes.py   the stacks real tools deploy: cdk, sam, the console (33-40)
status_events.py status change events to EventBridge; DescribeAccountLimits (49, 50)
"""
