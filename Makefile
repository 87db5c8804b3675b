.PHONY: test demo

test:
	scripts/test

demo:
	scripts/demo
