# The two commands of the README: `make synth` and `make test`. Both set up what they need.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK8S_CHECK_UPGRADE := false

.PHONY: synth test

synth:
	scripts/setup.sh
	.venv/bin/python main.py

test:
	scripts/setup.sh --with-test-services
	.venv/bin/python -m pytest
