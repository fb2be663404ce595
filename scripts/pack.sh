#!/usr/bin/env bash
# Packs the agentflow CLI as a .NET tool: a pointer package AgentFlow.Cli.VERSION.nupkg and the RID-specific
# AgentFlow.Cli.linux-x64.VERSION.nupkg (ReadyToRun, with the native llama.cpp and ONNX Runtime libraries).
# Usage: scripts/pack.sh [OUTPUT_FOLDER]      (default artifacts/packages)
# Install: dotnet tool install -g AgentFlow.Cli --add-source OUTPUT_FOLDER     (or --tool-path DIR)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-artifacts/packages}"
mkdir -p "$out"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet pack src/AgentFlow.Cli/AgentFlow.Cli.csproj -c Release -o "$out" --nologo -v quiet -clp:ErrorsOnly
ls -1 "$out"/AgentFlow.Cli*.nupkg
