# The two commands of the README:  make demo   (the main job)   and   make test   (the suite).
# Both create .venv on first use and refresh it when requirements.txt or setup.py change.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# What `ros2 run bc_ros ...` / `ros2 launch bc_ros ...` look for in the venv: pip puts console
# scripts in bin/ only and an editable install skips setup.py's data_files, so
# `bc-ros install-ros-files` links them into lib/bc_ros/ and share/ (sessions/ros_install.py).
ROS_FILES := $(VENV)/.ros-files

.PHONY: demo test venv bench clean

venv: $(STAMP) $(ROS_FILES)

$(STAMP): requirements.txt setup.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.txt
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(ROS_FILES): $(STAMP) package.xml $(wildcard launch/*.launch.py config/*.yaml)
	$(VENV)/bin/bc-ros install-ros-files
	touch $(ROS_FILES)

demo: venv
	$(VENV)/bin/bc-ros demo $(ARGS)

test: venv
	$(VENV)/bin/python -m pytest $(ARGS)

bench: venv
	$(VENV)/bin/python benchmarks/bench_experts.py
	$(VENV)/bin/python benchmarks/bench_sim_rate.py

clean:
	rm -rf $(VENV) build *.egg-info
