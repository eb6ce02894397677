import pytest
from jobs.runtime.config import load_config
from jobs.runtime.session import build_spark

@pytest.fixture(scope="session")
def spark():
    config = load_config(sets=["spark.master=local[2]", "spark.shuffle_partitions=4", "spark.extra={spark.ui.enabled: 'false'}"])
    return build_spark(config, app_name="taoqi-tests")
