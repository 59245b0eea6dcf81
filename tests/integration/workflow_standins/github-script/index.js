// Stand-in for actions/github-script (see ../README.md): runs the `script` input as an async
// function body with the parts of `core` the workflows use. exportVariable and setOutput
// write $GITHUB_ENV and $GITHUB_OUTPUT in the runner's delimited form, as @actions/core does.
// The runner gives actions (only them) the cache service's variables; the rehearsal passes
// them as WORKFLOW_STANDIN_RUNNER_<NAME> (act would hand act's own environment to every step).
const fs = require('fs');

const record = (line) => fs.appendFileSync(process.env.WORKFLOW_STANDIN_LOG, `github-script\t${line}\n`);
const delimited = (file, name, value) => {
  const delimiter = `ghadelimiter_${process.pid}_${Date.now()}`;
  fs.appendFileSync(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
};

const WATCHED = ['DOCKERHUB_USERNAME', 'DOCKERHUB_TOKEN', 'GITHUB_TOKEN', 'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'ACTIONS_RUNTIME_TOKEN', 'ACTIONS_CACHE_URL',
  'ACTIONS_RESULTS_URL', 'ACTIONS_CACHE_SERVICE_V2'];
fs.appendFileSync(process.env.WORKFLOW_STANDIN_LOG,
  `seen\tgithub-script\t${process.env.GITHUB_JOB || ''}\t${WATCHED.filter((n) => process.env[n]).join(' ')}\n`);
const PREFIX = 'WORKFLOW_STANDIN_RUNNER_';
for (const [name, value] of Object.entries(process.env)) {
  if (name.startsWith(PREFIX)) process.env[name.slice(PREFIX.length)] = value;
}

const core = {
  exportVariable(name, value) {
    delimited(process.env.GITHUB_ENV, name, value);
    process.env[name] = value;
    record(`export\t${name}`);
  },
  setOutput(name, value) {
    delimited(process.env.GITHUB_OUTPUT, name, value);
    record(`output\t${name}`);
  },
  setSecret(value) { console.log(`::add-mask::${value}`); },
  info(message) { console.log(message); },
};

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('core', 'process', 'require', process.env.INPUT_SCRIPT)(core, process, require)
  .catch((error) => { console.log(`::error::${error.message}`); process.exit(1); });
