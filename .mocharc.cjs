// mocha settings for `npm test`. With CI=true a skipped test fails the run:
// .ci/run provides docker, the images, vagrant and every tool the specs use,
// so a skip there would be a missing feature passing as green.
module.exports = {
  spec: ['dist/spec/unit/**/*.spec.js', 'dist/spec/integration/**/*.spec.js'],
  timeout: 600000,
  reporter: 'spec',
  forbidPending: process.env.CI === 'true',
};
