"""botocore's models of the services batchd speaks (Batch, CloudWatch Logs): data at the bottom of the
package, imported by any layer. The wire format, the operations and their shapes all come from here, so
batchd follows the model of the botocore it is installed with."""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore import xform_name
from botocore.model import ServiceModel

BATCH = "batch"
LOGS = "logs"


@cache
def service_model(service: str = BATCH) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def method_name(operation: str) -> str:
    """The Python name of an operation, as boto3 spells it: SubmitJob → submit_job."""
    return str(xform_name(operation))
