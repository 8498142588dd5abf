/* Products page: the list is built from this array at load and re-rendered by the filter. */
(function () {
  'use strict';

  var PRODUCTS = [
    { name: 'Trail Runner Shoes', price: 119.0, description: 'Light, grippy shoes for rocky and muddy trails.' },
    { name: 'Summit Backpack 38L', price: 149.5, description: 'A roomy pack with a ventilated back panel and rain cover.' },
    { name: 'Featherlight Tent', price: 329.0, description: 'Two-person, three-season tent that weighs under 1.5 kg.' },
    { name: 'Down Sleeping Bag', price: 259.0, description: 'Rated to -5 C, packs down to the size of a loaf of bread.' },
    { name: 'Titanium Camp Mug', price: 24.95, description: 'Doubles as a pot for boiling water on a small stove.' },
    { name: 'Pocket Stove', price: 44.0, description: 'Screws onto a gas canister and boils a litre in four minutes.' },
    { name: 'Headlamp 400', price: 39.9, description: 'Rechargeable, 400 lumens, with a red night-vision mode.' },
    { name: 'Rain Shell Jacket', price: 189.0, description: 'Waterproof, breathable and light enough to forget it is there.' },
    { name: 'Merino Base Layer', price: 69.0, description: 'Soft wool that stays warm when wet and does not smell.' },
    { name: 'Trekking Poles', price: 89.0, description: 'Carbon poles with cork grips; fold to 38 cm.' },
    { name: 'Water Filter Bottle', price: 34.5, description: 'Drink straight from streams; the filter lasts 1000 litres.' },
    { name: 'Map & Compass Kit', price: 29.0, description: 'A baseplate compass plus a waterproof map case.' },
    { name: 'Climbing Chalk Bag', price: 19.5, description: 'With a brush holder and a drawstring that seals tight.' },
    { name: 'Insulated Gloves', price: 49.0, description: 'Touch-screen fingertips and a grippy palm.' }
  ];

  var list = document.getElementById('product-list');
  var filter = document.getElementById('filter');
  var count = document.getElementById('product-count');
  if (!list) return;

  function money(n) { return '$' + n.toFixed(2); }

  function render() {
    var q = (filter && filter.value || '').trim().toLowerCase();
    var shown = PRODUCTS.filter(function (p) {
      return !q || p.name.toLowerCase().indexOf(q) >= 0 || p.description.toLowerCase().indexOf(q) >= 0;
    });
    list.textContent = '';
    shown.forEach(function (p) {
      var li = document.createElement('li');
      li.className = 'product card';
      li.setAttribute('data-name', p.name);
      var h = document.createElement('h3');
      h.textContent = p.name;
      var price = document.createElement('span');
      price.className = 'price';
      price.textContent = money(p.price);
      var d = document.createElement('p');
      d.textContent = p.description;
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'add-to-cart';
      b.textContent = 'Add to cart';
      b.addEventListener('click', function () {
        if (window.DemoCart) window.DemoCart.add(p.name);
        b.textContent = 'Added';
        setTimeout(function () { b.textContent = 'Add to cart'; }, 1000);
      });
      li.appendChild(h);
      li.appendChild(price);
      li.appendChild(d);
      li.appendChild(b);
      list.appendChild(li);
    });
    if (count) count.textContent = shown.length + ' of ' + PRODUCTS.length + ' products';
  }

  if (filter) filter.addEventListener('input', render);
  render();
})();
