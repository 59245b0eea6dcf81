// Stand-in for actions/github-script (see ../README.md): runs the `script` input as an async
// function body with the parts of `core` the workflows use. exportVariable writes
// $GITHUB_ENV in the runner's delimited form, as @actions/core does.
const fs = require('fs');

const record = (line) => fs.appendFileSync(process.env.WORKFLOW_STANDIN_LOG, `github-script\t${line}\n`);
const core = {
  exportVariable(name, value) {
    const delimiter = `ghadelimiter_${process.pid}_${Date.now()}`;
    fs.appendFileSync(process.env.GITHUB_ENV, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
    process.env[name] = value;
    record(`export\t${name}`);
  },
  setSecret(value) { console.log(`::add-mask::${value}`); },
  info(message) { console.log(message); },
};

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('core', 'process', 'require', process.env.INPUT_SCRIPT)(core, process, require)
  .catch((error) => { console.log(`::error::${error.message}`); process.exit(1); });
